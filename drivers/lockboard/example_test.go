package lockboard_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
)

func ExampleEncodeRequest() {
	for _, r := range []lockboard.Request{
		{Protocol: lockboard.ProtocolCU16, Op: lockboard.OpStatus, Board: 0},
		{Protocol: lockboard.ProtocolCU16, Op: lockboard.OpUnlock, Board: 1, Lock: 3},
		{Protocol: lockboard.Protocol8A, Op: lockboard.OpUnlock, Board: 1, Lock: 1},
	} {
		f, err := lockboard.EncodeRequest(r)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %s board %d lock %d: % X\n", r.Protocol, r.Op, r.Board, r.Lock, f)
	}
	// Output:
	// cu16 status board 0 lock 0: 02 00 30 03 35
	// cu16 unlock board 1 lock 3: 02 12 31 03 48
	// 8a unlock board 1 lock 1: 8A 01 01 11 9B
}

func ExampleDecodeReply() {
	// Noise, then a CU16 status reply: locks 1-8 locked, 9-16 locked except 12.
	stream := []byte{0xff, 0x02, 0x00, 0x35, 0xff, 0xf7, 0x00, 0x00, 0x03, 0x30}
	rep, used, err := lockboard.DecodeReply(lockboard.ProtocolCU16, lockboard.KindBoard, stream)
	if err != nil {
		log.Fatal(err)
	}
	pol := lockboard.SetMeansClosed
	fmt.Println("used", used, "board", rep.Board, "lock 12 open:", pol.Open(rep.Locks&(1<<11) != 0))
	// Output: used 10 board 0 lock 12 open: true
}

// ExampleOpen drives a virtual CU16 board through the real driver, as the
// simulator does.
func ExampleOpen() {
	set, err := lockboardtest.New(lockboardtest.Config{
		Protocol: lockboard.ProtocolCU16,
		Boards:   []lockboardtest.BoardSpec{{Addr: 0}},
		Person:   lockboardtest.OpenThenClose(50*time.Millisecond, time.Second),
		Logger:   quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	opened := make(chan lockboard.Change, 16)
	healthy := make(chan struct{}, 1)
	bus, err := lockboard.Open(lockboard.Config{
		Path:     set.Path(),
		Protocol: lockboard.ProtocolCU16,
		Boards:   []lockboard.BoardConfig{{Addr: 0}},
		OnChange: func(c lockboard.Change) {
			// An open lock may first show in the initial report, if the unlock
			// beats the first poll: take either.
			if c.LockOpen {
				select {
				case opened <- c:
				default:
				}
			}
		},
		OnHealth: func(h lockboard.Health) {
			if h.OK {
				select {
				case healthy <- struct{}{}:
				default:
				}
			}
		},
		Logger: quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select { // the port opens in the background
	case <-healthy:
	case <-ctx.Done():
		log.Fatal("bus never became healthy")
	}
	if err := bus.Unlock(ctx, 0, 7); err != nil {
		log.Fatal(err)
	}
	select {
	case c := <-opened:
		fmt.Println("board", c.Board, "lock", c.Lock, "open")
	case <-ctx.Done():
		log.Fatal("lock never reported open")
	}
	// Output: board 0 lock 7 open
}
