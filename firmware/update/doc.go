// Package update carries a signed release from the cloud's `update` command to the
// spool that the privileged installer reads (docs/updates.md, ADR 0064). It checks the
// release manifest against the pinned release keys (never the command keys), compares
// Debian versions, downloads the package with resumable HTTP Range requests within a
// size bound, verifies its SHA-256, and writes a request file atomically. lockerd runs
// unprivileged and never runs dpkg: lockerd-update.sh, started as root by a systemd
// path unit, installs the request with dpkg, waits for the health stamp this package
// writes and reinstalls the previous package when the new one does not prove healthy.
package update
