import Redis
import Testing

/// `--redis-url` in each of SPEC's three forms, and what a wrong one is told.
@Suite struct RedisURLTests {
    @Test func aClusterIsSomeOfItsNodes() throws {
        let config = try RedisConfiguration(url: "redis-cluster://ops:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002")
        #expect(config.deployment == .cluster(seeds: [
            RedisAddress(host: "10.0.0.1", port: 7000), RedisAddress(host: "10.0.0.2", port: 6379), RedisAddress(host: "::1", port: 7002),
        ]))
        #expect(config.username == "ops" && config.password == "p@ss" && config.database == 0)
        #expect(config.redactedURL == "redis-cluster://ops:***@10.0.0.1:7000,10.0.0.2:6379,[::1]:7002")
        #expect(try RedisConfiguration(url: config.url) == config)
    }

    @Test func sentinelNamesItsMasterAndDatabase() throws {
        let config = try RedisConfiguration(url: "redis-sentinel://:pw@s1:26380,s2/tally-main/3")
        #expect(config.deployment == .sentinel(
            sentinels: [RedisAddress(host: "s1", port: 26380), RedisAddress(host: "s2", port: 26379)], master: "tally-main"))
        #expect(config.password == "pw" && config.username == nil && config.database == 3)
        #expect(try RedisConfiguration(url: config.url) == config)
        #expect(try RedisConfiguration(url: "redis-sentinel://s1/m").database == 0)
    }

    @Test func oneServerStillReadsAsBefore() throws {
        let config = try RedisConfiguration(url: "redis://cache.local:6380/2")
        #expect(config.deployment == .server)
        #expect(config.host == "cache.local" && config.port == 6380 && config.database == 2)
    }

    @Test(arguments: [
        ("redis-cluster://", "no host given"),
        ("redis-cluster://a:1,,b:2", "'' is not host:port"),
        ("redis-cluster://a:port", "'a:port' is not host:port"),
        ("redis-cluster://a:70000", "port 70000 is out of range"),
        ("redis-cluster://a:1/2", "a Redis Cluster has database 0 only"),
        ("redis-sentinel://s1:26379", "the master's name is missing"),
        ("redis-sentinel://s1:26379/m/x", "the database must be a number, got 'x'"),
        ("redis-sentinel://s1/m/1/extra", "the path must be /<master-name>[/db], got '/m/1/extra'"),
        ("rediss://a:1", "expected redis://"),
    ])
    func aWrongURLSaysWhatIsWrong(url: String, problem: String) throws {
        let error = #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
        #expect(error?.kind == .configuration)
        #expect(error?.message.hasPrefix("redis-url: ") == true)
        #expect(error?.message.contains(problem) == true, "\(error?.message ?? "")")
    }

    @Test func aPasswordIsNotRepeatedInTheError() throws {
        let error = #expect(throws: RedisError.self) { try RedisConfiguration(url: "redis-clustr://:hunter2@a:1") }
        #expect(error?.message.contains("hunter2") == false)
        #expect(error?.message.contains("redis-clustr://:***@a:1") == true)
    }
}
