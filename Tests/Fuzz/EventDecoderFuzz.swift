import Foundation

// libFuzzer's entry point for the field-app request decoder (`EventRequest.decode`), built by
// scripts/fuzz with `-sanitize=fuzzer,address` together with the decoder's own sources. Every
// input must come back as a request or a clear refusal: a crash, a hang or a leak is a finding.
// Not part of the package: CI does not fuzz.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventRequest(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    let receivedAt: Int64 = 1_764_410_400_000  // 2025-11-29 10:00 UTC
    switch try? EventRequest.decode(Data(bytes: bytes, count: count), receivedAt: receivedAt) {
    case .events(let items)?:
        // What the decoder promises of what it lets through, checked on every input.
        precondition((1...EventRequest.maxEvents).contains(items.count))
        for item in items {
            switch item.outcome {
            case .success(let event):
                precondition((1...128).contains(event.id.unicodeScalars.count), "id length")
                precondition((1...64).contains(event.rep.unicodeScalars.count), "rep length")
                precondition((event.repName?.unicodeScalars.count ?? 0) <= 100, "rep_name length")
                precondition(event.value.isFinite && event.value >= 0 && event.value <= 1e12, "value range")
                precondition(event.at <= receivedAt + 5 * 60_000, "at in the future")
            case .failure(let rejection):
                // A refusal quotes at most 64 characters of a bad value (with its quotes and an ellipsis).
                precondition(rejection.description.unicodeScalars.count < 400, "long rejection: \(rejection.description.prefix(200))")
            }
        }
    case .ping?, nil:
        break
    }
    return 0
}
