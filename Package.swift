// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "tally",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tally-ingestion", targets: ["tally-ingestion"]),
        .executable(name: "tally-scoring", targets: ["tally-scoring"]),
        .executable(name: "tally-leaderboard", targets: ["tally-leaderboard"]),
        .executable(name: "tally-notification", targets: ["tally-notification"]),
        .executable(name: "tally", targets: ["tally"]),
        .executable(name: "tally-bench", targets: ["tally-bench"]),
        // The ZeroMQ wrapper, for Swift field apps and tools that talk to Tally.
        .library(name: "TallyZeroMQ", targets: ["ZeroMQ"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        // SHA-256 for org tokens (resolved already: the WebSocket client's TLS stack depends on it).
    ],
    targets: [
        // C libraries from Debian, imported as they are.
        .systemLibrary(
            name: "CZeroMQ", path: "Shared/CZeroMQ", pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(
            name: "CHiredis", path: "Shared/CHiredis", pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]),
        // libsodium, which libzmq's CURVE already links: SHA-256 for org tokens.
        .systemLibrary(
            name: "CSodium", path: "Shared/CSodium", pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]),

        // Thin, safe Swift over the C libraries.
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], path: "Shared/ZeroMQ"),
        .target(
            name: "Redis",
            dependencies: ["CHiredis", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            path: "Shared/Redis"),

        // The domain: events, rules, periods, boards. Pure Swift, no I/O.
        .target(
            name: "TallyDomain",
            dependencies: [.product(name: "Yams", package: "Yams")],
            path: "Shared/TallyDomain"),

        // The Redis layout and every script: keys, the batch writers, board reads, contests'
        // stored state, the rep directory, org tokens and field keys, quotas, and the answers reads give.
        .target(
            name: "TallyStore",
            dependencies: ["Redis", "TallyDomain", "CSodium"],
            path: "Shared/TallyStore",
            resources: [
                .embedInCode("apply-sums.lua"), .embedInCode("apply-events.lua"), .embedInCode("read-board.lua"),
                .embedInCode("create-token.lua"), .embedInCode("correct-event.lua"),
                .embedInCode("put-quotas.lua"), .embedInCode("delete-quota.lua"), .embedInCode("sync-attainment.lua"),
            ]),

        // The messages on the changes socket (scoring and leaderboard → notification).
        .target(name: "TallyChanges", dependencies: ["TallyStore"], path: "Shared/TallyChanges"),

        // What every service shares: options from flags and TALLY_* variables, logging,
        // the ingestion↔worker messages, running a ZeroMQ poll loop as a Service.
        .target(
            name: "TallyService",
            dependencies: [
                "ZeroMQ", "Redis", "TallyDomain",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/TallyService"),

        // Running a stack on one machine (tally up, the benchmark, the test fixtures):
        // redis-server's command line, free ports, executables, child processes, each service
        // started in order, waited for and stopped in reverse.
        // What an HTTP server allows each connection: a cap on open connections, an idle
        // timeout (for both servers, WebSocket displays included).
        .target(
            name: "TallyHTTP",
            dependencies: [
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Shared/TallyHTTP"),

        .target(name: "TallyLauncher", dependencies: ["ZeroMQ", "Redis", "TallyStore"], path: "Shared/TallyLauncher"),

        // tally-ingestion: the front door for field apps and the broker for scoring workers.
        .target(name: "Ingestion", dependencies: ["TallyService", "TallyStore"], path: "Services/Ingestion/Sources"),
        .executableTarget(
            name: "tally-ingestion",
            dependencies: ["Ingestion", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Services/Ingestion/Main"),

        // tally-scoring: a worker that applies batches of events to the boards in Redis.
        .target(name: "Scoring", dependencies: ["TallyService", "TallyStore", "TallyChanges"], path: "Services/Scoring/Sources"),
        .executableTarget(
            name: "tally-scoring",
            dependencies: ["Scoring", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Services/Scoring/Main"),

        // tally-leaderboard: board queries (and, next, contests) over HTTP and ZeroMQ.
        .target(
            name: "Leaderboard",
            dependencies: [
                "TallyService", "TallyStore", "TallyChanges", "TallyHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Services/Leaderboard/Sources"),
        .executableTarget(
            name: "tally-leaderboard",
            dependencies: ["Leaderboard", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Services/Leaderboard/Main"),

        // tally-notification: live board updates for displays (ZeroMQ XPUB, WebSocket) and the TV page.
        .target(
            name: "Notification",
            dependencies: [
                "TallyService", "TallyStore", "TallyChanges", "TallyHTTP",
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Services/Notification/Sources",
            resources: [.embedInCode("tv.html")]),
        .executableTarget(
            name: "tally-notification",
            dependencies: ["Notification", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Services/Notification/Main"),

        // tally: the command line for people: run the stack, send, query, run contests.
        .executableTarget(
            name: "tally",
            dependencies: [
                "TallyService", "TallyLauncher", "TallyDomain", "TallyStore", "Redis", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/CLI/Main"),

        // tally-bench: the benchmark (`tally bench` runs it), with its WebSocket displays.
        .executableTarget(
            name: "tally-bench",
            dependencies: [
                "TallyLauncher", "TallyDomain", "TallyStore", "ZeroMQ", "Redis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            ],
            path: "Services/Bench/Main",
            resources: [.embedInCode("ceiling.lua")]),

        // Test support: a real redis-server on a free port, service processes, clients.
        .target(
            name: "TallyTesting",
            dependencies: [
                "Redis", "ZeroMQ", "TallyService", "TallyLauncher",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            ],
            path: "Tests/TallyTesting"),

        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ", "TallyTesting"]),
        .testTarget(name: "RedisTests", dependencies: ["Redis", "TallyTesting"]),
        .testTarget(name: "TallyDomainTests", dependencies: ["TallyDomain", "TallyService"]),
        .testTarget(name: "TallyStoreTests", dependencies: ["TallyStore", "TallyChanges", "TallyDomain", "Redis", "TallyTesting"]),
        .testTarget(name: "TallyLauncherTests", dependencies: ["TallyLauncher", "Redis"]),
        .testTarget(name: "IngestionTests", dependencies: ["Ingestion"]),
        .testTarget(
            name: "PipelineTests",
            dependencies: [
                "TallyDomain", "TallyStore", "TallyTesting", "ZeroMQ", "Redis", .product(name: "Yams", package: "Yams"),
            ]),
        .testTarget(
            name: "LeaderboardTests",
            dependencies: [
                "Leaderboard", "TallyStore", "TallyTesting", "ZeroMQ", "Redis",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(
            name: "NotificationTests",
            dependencies: [
                "Notification", "TallyTesting", "ZeroMQ", "Redis",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            ]),
    ]
)
