import Redis
import TallyStore
import TallyTesting
import Testing

/// Field keys against a real redis-server: one key answers for one org, the index every
/// ingestion instance reads follows adds and revocations, and bad input names its field.
@Suite struct FieldKeyStoreTests {
    let fixture: StoreFixture
    var store: FieldKeyStore { FieldKeyStore(redis: fixture.client) }

    init() throws { fixture = try StoreFixture() }

    // Two key pairs made with `zmq_curve_keypair` (public keys only; nothing here connects).
    static let phone = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
    static let tablet = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"

    @Test func aKeyIsListedForItsOrgAndIndexedForIngestion() async throws {
        let version = try await store.currentVersion()
        let added = try await store.add(org: "acme", publicKey: Self.phone, name: "Ana's phone")
        #expect(try await store.list(org: "acme") == [added])
        #expect(try await store.list(org: "globex").isEmpty)
        let registered = try await store.registered()
        #expect(registered.count == 1)
        #expect(registered[Self.phone]?.org == "acme")
        #expect(registered[Self.phone]?.id == added.id)
        #expect(try await store.currentVersion() > version)
    }

    @Test func oneKeyAnswersForOneOrg() async throws {
        _ = try await store.add(org: "acme", publicKey: Self.phone, name: "phone")
        await #expect(throws: StoreError.invalid("public_key: this key is registered already")) {
            try await store.add(org: "globex", publicKey: Self.phone, name: "phone")
        }
        #expect(try await store.registered()[Self.phone]?.org == "acme")
    }

    @Test func aRevokedKeyLeavesTheIndexAndTheList() async throws {
        let phone = try await store.add(org: "acme", publicKey: Self.phone, name: "phone")
        let tablet = try await store.add(org: "acme", publicKey: Self.tablet, name: "tablet")
        let version = try await store.currentVersion()
        #expect(try await store.revoke(org: "globex", id: phone.id) == false, "another org can't revoke it")
        #expect(try await store.revoke(org: "acme", id: phone.id))
        #expect(try await store.list(org: "acme") == [tablet])
        #expect(try await store.registered().keys.sorted() == [Self.tablet])
        #expect(try await store.currentVersion() > version)
        #expect(try await store.revoke(org: "acme", id: phone.id) == false, "twice is not found")
        // Nobody registers it again: a device still holding it would write into their org.
        await #expect(throws: StoreError.invalid("public_key: this key was revoked; make a new key pair")) {
            try await store.add(org: "globex", publicKey: Self.phone, name: "phone")
        }
        #expect(try await store.registered(Self.phone) == nil)
    }

    @Test func badInputNamesTheField() async throws {
        await #expect(throws: StoreError.invalid("public_key: must be a CURVE public key, 40 characters of Z85")) {
            try await store.add(org: "acme", publicKey: "not a key", name: "phone")
        }
        await #expect(throws: StoreError.invalid("name: must be a string of at most 100 characters")) {
            try await store.add(org: "acme", publicKey: Self.phone, name: String(repeating: "n", count: 101))
        }
        #expect(try await store.registered().isEmpty)
    }
}
