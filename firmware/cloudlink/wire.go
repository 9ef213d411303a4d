package cloudlink

import "github.com/lockerd/lockerd/locker"

// OnTheWire reports whether a committed station event is sent to the cloud (and
// takes the next wire seq): the test of a fleet side that counts what it must receive.
func OnTheWire(e locker.Event) bool { return keepEvent(e) }
