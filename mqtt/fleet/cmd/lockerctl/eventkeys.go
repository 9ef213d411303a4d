package main

import "sync"

// eventKeys returns fleet.Config.EventKey for the pinned lockers: each locker's event
// key, derived once; nil (and asked again) for a locker that is not pinned.
func (c *config) eventKeys() func(lockerID string) []byte {
	var mu sync.Mutex
	unknown := map[string]bool{}
	return func(lockerID string) []byte {
		mu.Lock()
		defer mu.Unlock()
		if unknown[lockerID] {
			return nil
		}
		k, err := c.keys(lockerID)
		if err != nil {
			unknown[lockerID] = true // not pinned or unreadable: the same until restarted
			return nil
		}
		return k.EventKey()
	}
}
