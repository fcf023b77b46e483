extension Duration {
    /// Whole milliseconds, as ZeroMQ and the wire protocol count time.
    package var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
