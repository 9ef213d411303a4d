// Package packaging holds the Debian packaging of lockerd and lockerctl (nfpm
// descriptions, maintainer scripts, sysusers.d, tmpfiles.d, udev and watchdog
// settings, the example configuration, lintian overrides) and the test that
// installs the built lockerd package into a scratch root with the real dpkg. It has
// no Go code of its own: `make package` runs build-deb.
package packaging
