import Foundation
import Hummingbird
import Prometheus

/// The operations over HTTP JSON under `/v1/orgs/{org}/…`, plus `/healthz` and `/metrics`.
enum HTTPTransport {
    static func router(_ operations: Operations, metrics: PrometheusCollectorRegistry) -> Router<BasicRequestContext> {
        let router = Router()
        let v1 = router.group("v1/orgs/:org")

        v1.get("boards") { request, context in
            await respond(operations, request, "boards", context.parameters, [])
        }
        v1.get("boards/:board") { request, context in
            await respond(operations, request, "top", context.parameters, ["offset", "limit", "period"])
        }
        v1.get("boards/:board/members/:member") { request, context in
            await respond(operations, request, "rank", context.parameters, ["period"])
        }
        v1.get("boards/:board/members/:member/around") { request, context in
            await respond(operations, request, "around", context.parameters, ["n", "period"])
        }
        v1.get("members/:member") { request, context in
            await respond(operations, request, "member", context.parameters, [])
        }
        v1.put("reps/:rep") { request, context in
            var body = [String: String]()
            do {
                let buffer = try await request.body.collect(upTo: 64 * 1024)
                body = try JSONDecoder().decode(RepBody.self, from: Data(buffer: buffer)).fields
            } catch {
                return json(["error": "body: must be a JSON object {\"name\": ..., \"team\": ...} of strings"], status: .badRequest)
            }
            return await respond(operations, request, "rep.put", context.parameters, [], body: body)
        }

        v1.post("contests") { request, context in
            let org = context.parameters.get("org") ?? ""
            guard let buffer = try? await request.body.collect(upTo: 64 * 1024) else {
                return json(["error": "contest: the definition must be JSON of at most 64 KiB"], status: .badRequest)
            }
            return await respond(operations, request, .contestCreate(org: org, definition: Data(buffer: buffer)))
        }
        v1.get("contests") { request, context in
            await respond(operations, request, "contest.list", context.parameters, ["state"])
        }
        v1.get("contests/:id") { request, context in
            await respond(operations, request, "contest.get", context.parameters, [])
        }
        v1.post("contests/:id/end") { request, context in
            await respond(operations, request, "contest.end", context.parameters, [])
        }
        v1.delete("contests/:id") { request, context in
            await respond(operations, request, "contest.cancel", context.parameters, [])
        }

        // Org tokens (the admin's) and field keys (an organizer's).
        v1.post("tokens") { request, context in
            guard let body = await stringFields(request) else {
                return json(["error": "body: must be a JSON object {\"role\": \"viewer\" or \"organizer\", \"name\": ...}"], status: .badRequest)
            }
            return await respond(operations, request, "token.create", context.parameters, [], body: body)
        }
        v1.get("tokens") { request, context in
            await respond(operations, request, "token.list", context.parameters, [])
        }
        v1.delete("tokens/:id") { request, context in
            await respond(operations, request, "token.revoke", context.parameters, [])
        }
        v1.post("field-keys") { request, context in
            guard let body = await stringFields(request) else {
                return json(["error": "body: must be a JSON object {\"public_key\": \"<Z85>\", \"name\": ...}"], status: .badRequest)
            }
            return await respond(operations, request, "field-key.add", context.parameters, [], body: body)
        }
        v1.get("field-keys") { request, context in
            await respond(operations, request, "field-key.list", context.parameters, [])
        }
        v1.delete("field-keys/:id") { request, context in
            await respond(operations, request, "field-key.revoke", context.parameters, [])
        }

        // The activity log and corrections (SPEC "Corrections and the activity log").
        v1.get("events/:id") { request, context in
            await respond(operations, request, "event.get", context.parameters, [])
        }
        v1.delete("events/:id") { request, context in
            await respond(operations, request, "event.retract", context.parameters, [])
        }
        v1.patch("events/:id") { request, context in
            let body: [String: String]
            do {
                body = try await changeFields(request)
            } catch let error as OperationError {
                return json(["error": error.message], status: .badRequest)
            } catch {
                return json(["error": "body: \(error)"], status: .badRequest)
            }
            return await respond(operations, request, "event.amend", context.parameters, [], body: body)
        }
        v1.get("activity") { request, context in
            await respond(operations, request, "activity", context.parameters, ["limit", "rep", "kind", "before"])
        }

        // Quotas (SPEC "Quotas and attainment"): a put is all or nothing, up to 10,000.
        v1.put("quotas") { request, context in
            let org = context.parameters.get("org") ?? ""
            guard let buffer = try? await request.body.collect(upTo: Operation.maxQuotaBodyBytes) else {
                return json(["error": "quotas: the body must be JSON of at most \(Operation.maxQuotaBodyBytes >> 20) MiB"], status: .badRequest)
            }
            return await respond(operations, request, .quotaPut(org: org, body: Data(buffer: buffer)))
        }
        v1.get("quotas") { request, context in
            await respond(operations, request, "quota.list", context.parameters, ["metric", "window", "scope", "member"])
        }
        v1.delete("quotas/:metric/:window/:scope/:member") { request, context in
            await respond(operations, request, "quota.delete", context.parameters, ["period"])
        }

        router.get("healthz") { _, _ in
            await operations.healthy()
                ? json(["status": "ok"], status: .ok)
                : json(["status": "redis unreachable"], status: .serviceUnavailable)
        }
        router.get("metrics") { _, _ in
            var buffer = [UInt8]()
            metrics.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        return router
    }

    private struct RepBody: Decodable {
        var name: String?
        var team: String?
        var fields: [String: String] {
            var fields: [String: String] = [:]
            fields["name"] = name
            fields["team"] = team
            return fields
        }
    }

    /// A JSON object body of strings, at most 64 KiB; nil when it is not one.
    private static func stringFields(_ request: Request) async -> [String: String]? {
        guard let buffer = try? await request.body.collect(upTo: 64 * 1024) else { return nil }
        return try? JSONDecoder().decode([String: String].self, from: Data(buffer: buffer))
    }

    /// An amendment's body, `{"value"?, "kind"?, "rep"?, "team"?}`, as fields; at most 64 KiB.
    private static func changeFields(_ request: Request) async throws(OperationError) -> [String: String] {
        guard let buffer = try? await request.body.collect(upTo: 64 * 1024),
            let object = try? JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any]
        else {
            throw OperationError(.badRequest, "body: must be a JSON object {\"value\"?, \"kind\"?, \"rep\"?, \"team\"?} of at most 64 KiB")
        }
        return try EventChanges.fields(object)
    }

    /// Runs the operation named `op` with the path parameters, the listed query parameters and
    /// any body fields, and answers with its JSON or `{"error": ...}` and the fitting status.
    private static func respond(
        _ operations: Operations, _ request: Request, _ op: String, _ parameters: Parameters,
        _ query: Set<String>, body: [String: String] = [:]
    ) async -> Response {
        var fields = body
        for (key, value) in parameters { fields[String(key)] = String(value) }
        for (key, value) in request.uri.queryParameters where query.contains(String(key)) {
            fields[String(key)] = String(value)
        }
        do {
            return await respond(operations, request, try Operation.parse(op: op, fields))
        } catch {
            return failure(error)
        }
    }

    private static func respond(_ operations: Operations, _ request: Request, _ operation: Operation) async -> Response {
        var token: String?
        if let header = request.headers[.authorization] {
            token = header.hasPrefix("Bearer ") ? String(header.dropFirst("Bearer ".count)) : ""
        }
        do {
            let answer = try await operations.run(operation, token: token, transport: "http")
            if operation.removes { return Response(status: .noContent) }
            return json(answer, status: operation.creates ? .created : .ok)
        } catch {
            return failure(error)
        }
    }

    /// `{"error": ...}` with the error's status; a 401 says how to authenticate.
    private static func failure(_ error: OperationError) -> Response {
        var response = json(["error": error.message], status: HTTPResponse.Status(code: error.kind.httpStatus))
        if error.kind == .unauthorized { response.headers[.wwwAuthenticate] = #"Bearer realm="tally""# }
        return response
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status) -> Response {
        let data = (value as? ReadCache.Kept)?.http ?? (value as? any FastJSON)?.json() ?? (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
