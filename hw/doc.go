// Package hw drives doorface's hardware on periph.io: the door-strike relay, the status LED and
// the optional door contact and exit button, plus a simulated board that runs the same drivers
// over in-memory pins (--hw sim, and the fallback of --hw auto where no GPIO chip exists).
//
// # What it owns
//
//   - [Relay]: the strike's GPIO output, fail-secure. It writes the locked level before anything
//     else, on [Relay.Halt], on every error path, and when its independent watchdog fires
//     (RelayConfig.MaxOpen after the first energize of an opening, default 10s, whatever the
//     caller does). State is recorded only after a write succeeded; a failed write leaves the
//     door recorded as locked, returns an error wrapping [ErrWrite], and a failed lock write is
//     retried every 500ms. Unlock while unlocked extends to max(current deadline, now+d), capped
//     at MaxOpen from the first energize; it never shortens an opening.
//   - [LED]: the status LED, mono or RGB, playing [Patterns] (data) timed by the injected clock.
//   - [DoorContact] and [ExitButton]: polled, debounced inputs sending [Event]s (door opened and
//     closed, held open, forced open, exit pressed) on the board's event stream.
//   - [OpenBoard]: pins from the Linux GPIO character device (periph's gpioioctl driver), or the
//     simulated board ([Sim]).
//
// # What it must not do
//
// It must not decide anything about the door: it does not unlock on an exit press (the state
// machine does, for the unlock duration, and records it in the audit), and it does not choose
// LED patterns (the machine's transition stream calls [LED.Show]). It must not import package
// machine, touch the database, or use cgo. It must not use memory-mapped GPIO registers: with
// the character device, a crashed process's lines are released by the kernel. Timeouts use the
// injected clock.Clock, never time.Sleep.
//
// # Caveats
//
//   - Fail-secure depends on the wiring: the README says to wire the strike through a normally-
//     open relay contact so that an unpowered or released line keeps the door locked. What a
//     released character-device line drives is up to the kernel driver.
//   - The first write to a character-device line requests it as an output, which the kernel
//     starts at Low before the locked level is written; with RelayActiveLow that is an energizing
//     glitch of microseconds (far shorter than a relay's pull-in time). Prefer active-high wiring.
//   - Inputs are sampled every 10ms (DoorConfig.Poll, ButtonConfig.Poll) rather than waiting for
//     edges; a level counts once every sample over Debounce agrees. The level found at start
//     sets [DoorContact.State] but sends no event, so a door opened before the first debounce
//     (Debounce after OpenBoard) is not reported as an opening.
//   - Forced open is judged with the relay's state when the opening is debounced.
//   - Event sends block until received (the board's channel holds 64) or until the device is
//     halted; the events of one input leave in order.
//   - [Relay.OnChange] observers run with the relay's lock held: quick, no calls back into it.
//   - Halt is final for every device: a halted relay refuses Unlock, a halted LED ignores Show.
//   - The simulated board's pins (and the LED pin tracked in memory when none is configured)
//     are periph's gpiotest.Pin; the Sim's door and exit inputs embed it so that configuring
//     the input keeps the level the simulated switch holds (see wiredPin). The tests use
//     gpiotest.Pin too.
package hw
