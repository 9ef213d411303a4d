package cloudlink

import "github.com/lockerd/lockerd/mqtt/link"

// Stats is the link's counters and connection state (for metrics).
func (c *Link) Stats() link.Stats { return c.link.Stats() }
