package cloudlink

import (
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// The read-only commands: inventory, status and audit range. Their answers hold
// opaque ids, sizes, states and counts only.

func (h *commandHandler) inventory() link.Result {
	inv, err := h.st.Inventory()
	if err != nil {
		return outcome(err)
	}
	res := &protocol.InventoryResult{Compartments: make([]protocol.CompartmentInfo, 0, len(inv))}
	for _, c := range inv {
		info := protocol.CompartmentInfo{ID: uint16(c.ID), Label: c.Label, Size: protocol.Size(c.Size.String()),
			Kind: c.Kind.String(), Disabled: c.Disabled, Fault: c.Fault, Open: c.DoorOpen}
		for _, p := range c.Parcels {
			info.Parcels = append(info.Parcels, string(p))
		}
		res.Compartments = append(res.Compartments, info)
	}
	return link.Done(res)
}

func (h *commandHandler) status() link.Result {
	st, err := h.st.Status()
	if err != nil {
		return outcome(err)
	}
	res := &protocol.StatusResult{
		Boot: h.boot, Version: h.version, UptimeS: int64(h.now().Sub(h.started) / time.Second),
		Parcels: waiting(st), Compartments: st.Compartments, Free: st.Free, Disabled: st.Disabled,
		Outbox: h.outbox(st.Outbox), PolicyVersion: uint32(max(st.PolicyVersion, 0)), Drivers: driverStates(h.drivers()),
		Identity: h.identity, LegacyParcels: st.LegacyParcels, CodeFailures24h: st.CodeFailures24h,
	}
	return link.Done(res)
}

// waiting counts the parcels announced or in a compartment.
func waiting(st locker.Status) int {
	n := 0
	for state, c := range st.Parcels {
		if state == locker.StateAnnounced || state.InCompartment() {
			n += c
		}
	}
	return n
}

func (h *commandHandler) auditRange(b *protocol.AuditRangeBody) link.Result {
	limit := b.Limit
	if limit == 0 {
		limit = protocol.MaxAuditRange
	}
	evs, err := h.st.AuditRange(b.From, auditTo(b.To), limit)
	if err != nil {
		return outcome(err)
	}
	res := &protocol.AuditRangeResult{Entries: make([]protocol.AuditEntry, 0, len(evs))}
	for _, e := range evs {
		reason := e.Reason
		if reason == "" && len(e.Report) > 0 {
			reason = string(e.Report) // a hardware or health report: its JSON, as text
		}
		res.Entries = append(res.Entries, protocol.AuditEntry{
			Seq: e.Seq, ID: e.ID, Type: string(e.Type), Time: e.At.UTC(), Parcel: string(e.Parcel),
			Compartment: uint16(e.Compartment), Actor: e.Actor, Reason: reason,
		})
	}
	if n := len(evs); n == limit && evs[n-1].Seq < auditTo(b.To) {
		res.Next = evs[n-1].Seq + 1
	}
	return link.Done(res)
}

// driverStates maps each driver whose name is a protocol id to its state.
func driverStates(ds []Driver) map[string]protocol.Health {
	if len(ds) == 0 {
		return nil
	}
	out := make(map[string]protocol.Health, len(ds))
	for _, d := range ds {
		if protocol.ValidID(d.Name) {
			out[d.Name] = d.Health
		}
	}
	return out
}
