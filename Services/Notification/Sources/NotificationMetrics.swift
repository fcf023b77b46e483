import Prometheus

/// What `/metrics` shows of tally-notification.
struct NotificationMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let displays: Gauge
    let zmqSubscriptions: Gauge
    let boards: Gauge
    let updates: Counter
    let messages: Counter
    let resnapshots: Counter
    let notices: Counter
    /// Displays, subscriptions and connections refused, by `Hub.Refusal`.
    private let refusals: [Hub.Refusal: Counter]
    let idleClosed: Counter

    init() {
        let connected = MetricNameDescriptor(
            namespace: "tally", metricName: "displays", unitName: "", helpText: "Connected displays: WebSocket connections, ZeroMQ subscriptions.")
        displays = registry.makeGauge(descriptor: connected, labels: [("transport", "websocket")])
        zmqSubscriptions = registry.makeGauge(descriptor: connected, labels: [("transport", "zmq")])
        boards = registry.makeGauge(descriptor: .init(
            namespace: "tally", metricName: "watched_boards", unitName: "",
            helpText: "Boards displays watch that have data, and so are read (boards with none wait for a change)."))
        updates = registry.makeCounter(descriptor: .init(
            namespace: "tally", metricName: "updates", unitName: "total",
            helpText: "Board updates published (each once, whatever the number of displays)."))
        messages = registry.makeCounter(descriptor: .init(
            namespace: "tally", metricName: "display_messages", unitName: "total", helpText: "Messages queued to WebSocket displays."))
        resnapshots = registry.makeCounter(descriptor: .init(
            namespace: "tally", metricName: "display_resnapshots", unitName: "total",
            helpText: "Times a display fell behind: its backlog was dropped and it gets snapshots instead."))
        notices = registry.makeCounter(descriptor: .init(
            namespace: "tally", metricName: "change_notices", unitName: "total", helpText: "Change notices and contest announcements received."))
        let refused = MetricNameDescriptor(
            namespace: "tally", metricName: "refusals", unitName: "total",
            helpText: "Displays, subscriptions and connections refused at a cap, by the cap.")
        var refusals: [Hub.Refusal: Counter] = [:]
        for refusal in Hub.Refusal.allCases {
            refusals[refusal] = registry.makeCounter(descriptor: refused, labels: [("reason", refusal.rawValue)])
        }
        self.refusals = refusals
        idleClosed = registry.makeCounter(descriptor: .init(
            namespace: "tally", metricName: "idle_connections_closed", unitName: "total",
            helpText: "HTTP and WebSocket connections closed after sending nothing for the idle timeout."))
    }

    func refused(_ refusal: Hub.Refusal) { refusals[refusal]?.increment() }
}
