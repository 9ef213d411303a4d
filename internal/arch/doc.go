// Package arch holds no code: its tests show how lockerd handles what differs on the
// 32-bit boards it runs on (a Pi Zero or any 32-bit Raspberry Pi OS, linux/arm with
// GOARM=6), where `make test-arm` runs them under qemu-user beside the rest.
package arch
