import ArgumentParser
import Foundation

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, list or revoke an org's tokens (the admin token's).",
        discussion: """
            tally token create --org acme --role viewer --name "Lobby TV" --admin-token $ADMIN
            A viewer reads the org's boards, streams and TV page; an organizer also runs contests,
            the rep directory and field keys. A token's value is shown once, when it is made.
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token; its value is printed once, on the last line.")
        @OptionGroup var connection: LeaderboardOptions
        @Option(help: "viewer or organizer.") var role: String
        @Option(help: "What the token is for, e.g. \"Lobby TV\".") var name: String

        func run() throws {
            let answer = try connection.ask("token.create", ["role": role, "name": name])
            print("created \(answer["id"] ?? "") (\(answer["role"] ?? ""), \(answer["name"] ?? "")) for org \(connection.org); its value, shown only now:")
            print(answer["token"] as? String ?? "")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the org's tokens (never their values).")
        @OptionGroup var connection: LeaderboardOptions

        func run() throws {
            let tokens = try connection.ask("token.list", [:])["tokens"] as? [[String: Any]] ?? []
            if tokens.isEmpty { print("no tokens") }
            for token in tokens {
                print("\(token["id"] ?? "")\t\(token["role"] ?? "")\t\(token["created_at"] ?? "")\t\(token["name"] ?? "")")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: refused from the next request, its streams closed within 5 s.")
        @OptionGroup var connection: LeaderboardOptions
        @Argument(help: "The token's id (from `tally token list`).") var id: String

        func run() throws {
            _ = try connection.ask("token.revoke", ["id": id])
            print("revoked \(id)")
        }
    }
}

struct FieldKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "field-key", abstract: "Register, list or revoke the CURVE public keys of an org's field apps (an organizer's).",
        discussion: """
            tally keys                      # a new key pair for the field app
            tally field-key add --org acme --public-key '<Z85>' --name "Berlin tablets" --token $ORGANIZER
            """,
        subcommands: [Add.self, List.self, Revoke.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a field app's public key for the org.")
        @OptionGroup var connection: LeaderboardOptions
        @Option(help: "The app's CURVE public key, 40 characters of Z85.") var publicKey: String
        @Option(help: "What the key is for, e.g. \"Berlin tablets\".") var name: String

        func run() throws {
            let answer = try connection.ask("field-key.add", ["public_key": publicKey, "name": name])
            print("registered \(answer["id"] ?? "") (\(answer["name"] ?? "")) for org \(connection.org): \(answer["public_key"] ?? "")")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the org's field keys.")
        @OptionGroup var connection: LeaderboardOptions

        func run() throws {
            let keys = try connection.ask("field-key.list", [:])["field_keys"] as? [[String: Any]] ?? []
            if keys.isEmpty { print("no field keys") }
            for key in keys {
                print("\(key["id"] ?? "")\t\(key["created_at"] ?? "")\t\(key["public_key"] ?? "")\t\(key["name"] ?? "")")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a field key: its app's requests are refused within 5 s.")
        @OptionGroup var connection: LeaderboardOptions
        @Argument(help: "The key's id (from `tally field-key list`).") var id: String

        func run() throws {
            _ = try connection.ask("field-key.revoke", ["id": id])
            print("revoked \(id)")
        }
    }
}
