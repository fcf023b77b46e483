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

    init() {
        displays = registry.makeGauge(name: "tally_displays", labels: [("transport", "websocket")], help: "Connected displays: WebSocket connections, ZeroMQ subscriptions.")
        zmqSubscriptions = registry.makeGauge(
            name: "tally_displays", labels: [("transport", "zmq")], help: "Connected displays: WebSocket connections, ZeroMQ subscriptions.")
        boards = registry.makeGauge(name: "tally_watched_boards", help: "Boards at least one display watches.")
        updates = registry.makeCounter(name: "tally_updates_total", help: "Board updates published (each once, whatever the number of displays).")
        messages = registry.makeCounter(name: "tally_display_messages_total", help: "Messages queued to WebSocket displays.")
        resnapshots = registry.makeCounter(
            name: "tally_display_resnapshots_total", help: "Times a display fell behind: its backlog was dropped and it gets snapshots instead.")
        notices = registry.makeCounter(name: "tally_change_notices_total", help: "Change notices and contest announcements received.")
    }
}
