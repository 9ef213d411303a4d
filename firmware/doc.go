// Package firmware is lockerd: it reads the configuration, creates or loads the device's
// secrets, opens the hardware drivers, wires them to the locker station, serves the
// local control API, talks to systemd, and on shutdown puts every output back into its
// safe state. It holds no domain logic of its own; the adapter between the cloud link
// and the station is firmware/cloudlink, which firmware builds from the mqtt section
// (cloudlink.go).
package firmware
