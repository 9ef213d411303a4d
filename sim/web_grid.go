package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/gpiodoor/gpiodoortest"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware/config"
)

// Compartment states on the page's grid, most telling first: a door standing open
// hides whether the compartment is full.
const (
	CellOpen     = "open"     // the door is physically open
	CellJammed   = "jammed"   // lockerd found the lock jammed
	CellFaulted  = "faulted"  // any other fault, or disabled by an operator
	CellOccupied = "occupied" // a parcel is in it (or reserved for one)
	CellFree     = "free"
)

// cellView is one compartment on the grid: nothing about its parcels but how many.
type cellView struct {
	ID       int    `json:"id"`
	Label    string `json:"label"`
	Size     string `json:"size"`
	State    string `json:"state"`
	Parcels  int    `json:"parcels,omitempty"`
	Busy     bool   `json:"busy,omitempty"`      // an operation (deposit, pickup) is under way at it
	JamArmed bool   `json:"jam_armed,omitempty"` // the person will jam its next unlock
}

// gridView is the grid event: the person's mode and every compartment.
type gridView struct {
	Person string     `json:"person"` // "auto" or "hand"
	Cells  []cellView `json:"cells"`
}

// person is what the virtual person at the doors does: open and shut every released
// door by itself ("auto", the scenario's person) or only when the page says so
// ("hand"), and jam the locks the page armed.
type person struct {
	mu       sync.Mutex
	hand     bool
	jammed   map[int]bool // compartment ids
	auto     lockboardtest.Policy
	autoGPIO gpiodoortest.Policy
}

// doorOf finds the configuration of compartment id.
func (w *Web) doorOf(id int) (config.Compartment, bool) {
	for _, c := range w.o.Station.Config.Compartments {
		if c.ID == id {
			return c, true
		}
	}
	return config.Compartment{}, false
}

// installPerson puts the page's person in charge of every door's policy.
func (w *Web) installPerson() {
	st, p := w.o.Station, &w.person
	p.jammed = map[int]bool{}
	p.auto = st.person
	if p.auto == nil {
		p.auto = lockboardtest.OpenThenClose(400*time.Millisecond, 900*time.Millisecond)
	}
	p.autoGPIO = st.hw.gpioPerson
	st.Boards.SetPolicy(func(board, lock int) lockboardtest.Plan {
		p.mu.Lock()
		hand := p.hand
		p.mu.Unlock()
		if hand {
			return lockboardtest.Plan{OpenAfter: -1, CloseAfter: -1}
		}
		return p.auto(board, lock)
	})
	if st.Cabinet == nil {
		return
	}
	ids := map[string]int{}
	for _, c := range st.Config.Compartments {
		if c.Door.Driver == GPIODriver {
			ids[gpioName(c.Door.Lock)] = c.ID
		}
	}
	st.Cabinet.SetPolicy(func(door string) gpiodoortest.Plan {
		p.mu.Lock()
		hand, jam := p.hand, p.jammed[ids[door]]
		p.mu.Unlock()
		switch {
		case jam:
			return gpiodoortest.Plan{Jam: true}
		case hand || p.autoGPIO == nil:
			return gpiodoortest.Plan{OpenAfter: -1, CloseAfter: -1}
		}
		return p.autoGPIO(door)
	})
}

func gpioName(position int) string { return fmt.Sprintf("g%d", position) }

func (w *Web) postPerson(rw http.ResponseWriter, r *http.Request) {
	var req struct {
		Mode string `json:"mode"`
	}
	if !decode(rw, r, &req) {
		return
	}
	if req.Mode != "auto" && req.Mode != "hand" {
		reply(rw, errors.New(`sim: the person is "auto" or "hand"`))
		return
	}
	w.person.mu.Lock()
	w.person.hand = req.Mode == "hand"
	w.person.mu.Unlock()
	w.wakeGrid()
	reply(rw, nil)
}

// postDoor does to a door what the person standing at it does: open it, shut it, or
// arm (and disarm) a jam of its next unlock.
func (w *Web) postDoor(rw http.ResponseWriter, r *http.Request) {
	var req struct {
		Compartment int    `json:"compartment"`
		Action      string `json:"action"` // open, shut, jam, unjam
	}
	if !decode(rw, r, &req) {
		return
	}
	reply(rw, w.door(req.Compartment, req.Action))
	w.wakeGrid()
}

func (w *Web) door(id int, action string) error {
	c, ok := w.doorOf(id)
	if !ok || c.Door.Driver == "" {
		return fmt.Errorf("sim: no door %d", id)
	}
	st := w.o.Station
	gpioDoor := c.Door.Driver == GPIODriver
	switch action {
	case "open", "shut":
		if gpioDoor {
			return st.Cabinet.SetDoor(gpioName(c.Door.Lock), action == "open")
		}
		return st.Boards.SetDoor(c.Door.Board, c.Door.Lock, action == "open")
	case "jam", "unjam":
		jam := action == "jam"
		w.person.mu.Lock()
		w.person.jammed[id] = jam
		w.person.mu.Unlock()
		if gpioDoor {
			return nil // the cabinet's policy reads person.jammed
		}
		var p lockboardtest.Policy
		if jam {
			p = lockboardtest.Jammed()
		}
		return st.Boards.SetLockPolicy(c.Door.Board, c.Door.Lock, p)
	}
	return fmt.Errorf("sim: unknown door action %q", action)
}

// doorOpen reads the virtual hardware: is the door of c standing open?
func (w *Web) doorOpen(c config.Compartment) bool {
	st := w.o.Station
	if c.Door.Driver == GPIODriver {
		_, sensor := gpioPins(c.Door.Lock - 1)
		pin := st.Cabinet.Pin(sensor)
		return pin != nil && pin.Level() == gpio.High // the sim's reeds read high when open
	}
	l, err := st.Boards.Lock(c.Door.Board, c.Door.Lock)
	return err == nil && l.DoorOpen
}

// grid reads lockerd's inventory (through the control socket, as any local client)
// and the doors' physical state.
func (w *Web) grid(ctx context.Context) (gridView, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	inv, err := w.ctl.Inventory(ctx)
	if err != nil {
		return gridView{}, err
	}
	w.person.mu.Lock()
	g := gridView{Person: "auto"}
	if w.person.hand {
		g.Person = "hand"
	}
	jammed := make(map[int]bool, len(w.person.jammed))
	for id, j := range w.person.jammed {
		jammed[id] = j
	}
	w.person.mu.Unlock()
	for _, v := range inv {
		cell := cellView{ID: int(v.ID), Label: v.Label, Size: v.Size.String(), Parcels: len(v.Parcels),
			Busy: v.Op != "", JamArmed: jammed[int(v.ID)], State: CellFree}
		c, _ := w.doorOf(int(v.ID))
		switch {
		case w.doorOpen(c):
			cell.State = CellOpen
		case v.Fault == "jammed":
			cell.State = CellJammed
		case v.Fault != "" || v.Disabled:
			cell.State = CellFaulted
		case len(v.Parcels) > 0:
			cell.State = CellOccupied
		}
		g.Cells = append(g.Cells, cell)
	}
	return g, nil
}

func (w *Web) wakeGrid() {
	select {
	case w.gridWake <- struct{}{}:
	default:
	}
}

// pollGrid publishes the grid whenever it changes, while a page listens: at once
// after a locker event or a door button, and every 200 ms for what the person does
// by itself (a door opened by the automatic person is a locker event too, but only
// once lockerd polled the board).
func (w *Web) pollGrid(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.gridWake:
		}
		if w.panel.listeners() == 0 {
			continue
		}
		g, err := w.grid(ctx)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Debug("grid", "err", err)
			}
			continue
		}
		data, err := json.Marshal(g)
		if err != nil {
			continue
		}
		w.gridMu.Lock()
		changed := !bytes.Equal(data, w.gridLast)
		w.gridLast = data
		w.gridMu.Unlock()
		if changed {
			w.panel.publishRaw(sseEvent{name: "grid", data: data}, false)
		}
	}
}
