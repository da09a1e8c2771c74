// Package hw drives doorface's hardware: the door-strike relay, the status LED and the optional
// door contact and exit button, on periph.io, plus a simulated board with the same drivers over
// in-memory pins.
package hw
