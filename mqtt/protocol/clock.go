package protocol

// The device's time on the wire (docs/adr/0058-time-without-a-clock-chip.md): the
// time command (TimeBody, TimeResult) and the clock event.

// clockKinds are the values of ClockEvent.Kind.
var clockKinds = []string{"step", "held", "set", "rebased"}

// ClockEvent reports an anomaly of the device's time: kind step (its wall clock
// stepped by more than the bound, by_s; negative: back), held (its wall clock is by_s
// off its trusted time and is not followed), set (a time command set the trusted time;
// by_s: the wall clock's offset), rebased (count deadlines set before the time was
// trusted moved by_s later). Whether the time is trusted at all is in the audit log
// (the station's clock entries) and in every reply's time, not an event: it changes at
// every start.
type ClockEvent struct {
	Kind  string `json:"kind"`
	ByS   int64  `json:"by_s,omitempty"`
	Count int    `json:"count,omitempty"`
}

// Validate implements EventBody.
func (e *ClockEvent) Validate() error {
	for _, k := range clockKinds {
		if e.Kind == k {
			if e.Count < 0 {
				return schemaErr("body.count", ProblemBadValue, "negative")
			}
			return nil
		}
	}
	return schemaErr("body.kind", ProblemBadValue, "not a known clock event kind")
}
