package firmware

// KeepEvent exposes the outbox filter to the process tests: which station events the
// cloud receives (ADR 0026).
var KeepEvent = keepEvent
