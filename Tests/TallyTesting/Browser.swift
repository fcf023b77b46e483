import Foundation
import HummingbirdWSClient
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// A real headless Chromium, driven over the DevTools protocol: open a page, evaluate
/// JavaScript in it, resize it, take screenshots, and collect what it logs as errors.
package final class Browser: @unchecked Sendable {
    // `@unchecked`: the mutable state is behind `Locked`; the rest is set once in `init`.
    private let process: ChildProcess
    private let profile: URL
    private let outgoing: AsyncStream<String>.Continuation
    private let task: Task<Void, Never>
    private let replies = Locked<[Int: Data]>([:])
    private let events = Locked<[(method: String, params: Data)]>([])
    private let nextID = Locked(0)
    private let failure = Locked<String?>(nil)

    /// Chromium from PATH (scripts/setup installs Debian's `chromium`), or nil when absent.
    package static var executable: URL? { Executables.onPath("chromium") ?? Executables.onPath("chromium-browser") }

    package init(width: Int = 1920, height: Int = 1080) throws {
        guard let chromium = Self.executable else { throw TestSetupError("chromium is not installed; run scripts/setup --tests") }
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("tally-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let log = profile.appendingPathComponent("chromium.log")
        process = try ChildProcess(
            chromium,
            [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*",
                "--user-data-dir=\(profile.path)", "--window-size=\(width),\(height)", "about:blank",
            ],
            output: .file(log), ownProcessGroup: true)
        // Chromium says where DevTools listens: "DevTools listening on ws://127.0.0.1:PORT/...".
        var port: Int?
        let process = self.process
        try wait("chromium's DevTools endpoint", seconds: 30) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"ws://127\.0\.0\.1:(\d+)/"#, options: .regularExpression) {
                port = Int(text[range].dropFirst("ws://127.0.0.1:".count).dropLast())
            }
            guard port != nil || process.isRunning else { throw TestSetupError("chromium exited:\n\(text)") }
            return port != nil
        }
        // The page target chromium opened with about:blank.
        var pageURL: String?
        try wait("chromium's page target") {
            let list = try httpGet(port: port!, "/json/list").body
            let targets = (try? JSONSerialization.jsonObject(with: Data(list.utf8)) as? [[String: Any]]) ?? []
            pageURL = targets.first { $0["type"] as? String == "page" }?["webSocketDebuggerUrl"] as? String
            return pageURL != nil
        }

        let (stream, outgoing) = AsyncStream.makeStream(of: String.self)
        self.outgoing = outgoing
        let replies = self.replies
        let events = self.events
        let failure = self.failure
        task = Task { [pageURL] in
            do {
            try await WebSocketClient.connect(
                url: pageURL!, configuration: .init(maxFrameSize: 1 << 26), logger: Logger(label: "cdp")
            ) { inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await text in stream { try await outbound.write(.text(text)) }
                    }
                    for try await message in inbound.messages(maxSize: 1 << 28) {
                        guard case .text(let text) = message,
                            let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                        else { continue }
                        if let id = object["id"] as? Int {
                            replies.withLock { $0[id] = Data(text.utf8) }
                        } else if let method = object["method"] as? String {
                            let params = (try? JSONSerialization.data(withJSONObject: object["params"] ?? [:])) ?? Data()
                            events.withLock { $0.append((method, params)) }
                        }
                    }
                    group.cancelAll()
                }
            }
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
        }
        for domain in ["Runtime.enable", "Page.enable", "Log.enable"] { _ = try command(domain) }
    }

    deinit {
        outgoing.finish()
        task.cancel()
        // Chromium's renderers and helpers are in its process group: stop them all.
        kill(-process.pid, SIGTERM)
        _ = process.stop(within: 5)
        kill(-process.pid, SIGKILL)
        try? FileManager.default.removeItem(at: profile)
    }

    /// Sends a DevTools command and waits for its result.
    @discardableResult
    package func command(_ method: String, _ params: [String: Any] = [:], seconds: Double = 30) throws -> [String: Any] {
        let id = nextID.withLock { $0 += 1; return $0 }
        let body = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": params])
        outgoing.yield(String(decoding: body, as: UTF8.self))
        var reply: Data?
        try wait("chromium to answer \(method)", seconds: seconds) {
            if let failure = failure.withLock({ $0 }) { throw TestSetupError("DevTools connection failed: \(failure)") }
            reply = replies.withLock { $0.removeValue(forKey: id) }
            return reply != nil
        }
        let object = try JSONSerialization.jsonObject(with: reply!) as? [String: Any] ?? [:]
        if let error = object["error"] { throw TestSetupError("\(method) failed: \(error)") }
        return object["result"] as? [String: Any] ?? [:]
    }

    package func open(_ url: String) throws {
        try command("Page.navigate", ["url": url])
    }

    /// The value of a JavaScript expression (JSON-compatible values only).
    package func evaluate(_ expression: String) throws -> Any? {
        let result = try command("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let exception = result["exceptionDetails"] { throw TestSetupError("\(expression) threw: \(exception)") }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Text of each element matching a CSS selector, in document order.
    package func texts(_ selector: String) throws -> [String] {
        let expression = "Array.from(document.querySelectorAll(\(Self.quoted(selector)))).map(e => e.textContent.trim())"
        return try evaluate(expression) as? [String] ?? []
    }

    /// Resizes the viewport as a screen of that size would be.
    package func resize(width: Int, height: Int) throws {
        try command("Emulation.setDeviceMetricsOverride", ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
    }

    /// A PNG of the viewport, after `settle` seconds for animations in progress to finish.
    package func screenshot(to url: URL, settle: Double = 1) throws {
        Thread.sleep(forTimeInterval: settle)
        let result = try command("Page.captureScreenshot", ["format": "png"])
        guard let base64 = result["data"] as? String, let data = Data(base64Encoded: base64) else {
            throw TestSetupError("no screenshot data")
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    /// What the page reported as errors: uncaught exceptions, console.error calls, error log
    /// entries (failed requests among them), and any alert/confirm dialog it opened.
    package var errors: [String] {
        events.withLock { events in
            events.compactMap { event -> String? in
                let params = (try? JSONSerialization.jsonObject(with: event.params) as? [String: Any]) ?? [:]
                switch event.method {
                case "Runtime.exceptionThrown":
                    return "exception: \(params["exceptionDetails"] ?? "")"
                case "Runtime.consoleAPICalled" where params["type"] as? String == "error":
                    return "console.error: \(params["args"] ?? "")"
                case "Log.entryAdded":
                    let entry = params["entry"] as? [String: Any] ?? [:]
                    return entry["level"] as? String == "error" ? "log: \(entry["text"] ?? "") \(entry["url"] ?? "")" : nil
                case "Page.javascriptDialogOpening":
                    return "dialog: \(params["message"] ?? "")"
                default:
                    return nil
                }
            }
        }
    }

    private static func quoted(_ text: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: text, options: .fragmentsAllowed), as: UTF8.self)
    }
}
