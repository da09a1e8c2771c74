// Package hw drives doorface's hardware on periph.io: the door-strike relay, the status light
// (one LED, or a WS2812/APA102 ring on SPI), the optional buzzer, door contact and exit button,
// plus a simulated board that runs the same drivers over in-memory pins and an in-memory SPI port
// (--hw sim, and --hw auto where no GPIO chip exists at all).
//
// # What it owns
//
//   - [Relay]: the strike's GPIO output, fail-secure. It writes the locked level before anything
//     else, on [Relay.Halt], on every error path, and when its independent watchdog fires
//     (RelayConfig.MaxOpen after the first energize of an opening, default 10s, whatever the
//     caller does). State is recorded only after a write succeeded; a failed write leaves the
//     door recorded as locked, returns an error wrapping [ErrWrite], and a failed lock write is
//     retried every 500ms. Unlock while unlocked extends to max(current deadline, now+d), capped
//     at MaxOpen from the first energize; it never shortens an opening. When a retry heals a
//     failed lock write the relay sends [EventRelayRelocked] on the board's event stream.
//   - [LED]: the status light, playing [Pattern]s timed by the injected clock. The patterns are
//     data ([Looks]: steps for one LED, frames for a ring); [StatePattern] is the explicit map
//     from machine.State. A mono or RGB LED on GPIO pins ([NewLED]), or a ring ([NewRing]) on
//     periph's nrzled (WS2812) or apa102 driver, written from its own goroutine so that a slow
//     or failing SPI write never blocks the caller; failures show in [LED.Fault].
//   - [Buzzer]: an active buzzer on a GPIO output playing [Sound]s, with optional quiet hours.
//   - [DoorContact] and [ExitButton]: polled, debounced inputs sending [Event]s (door opened and
//     closed, held open, forced open, exit pressed) on the board's event stream.
//   - [OpenBoard]: pins from the Linux GPIO character device (periph's gpioioctl driver) and
//     spidev, or the simulated board ([Sim]). "auto" simulates only where no /dev/gpiochip*
//     exists; with GPIO present, a missing configured pin is an error.
//
// # What it must not do
//
// It must not decide anything about the door: it does not unlock on an exit press (the state
// machine does, for the unlock duration, and records it in the audit), and it does not choose
// when to show a pattern or sound (main does, from the machine's transition stream and the board
// events). It imports package machine only for the State type of [StatePattern] (machine imports
// only clock); it must not call the machine, touch the database, or use cgo. It must not use memory-mapped GPIO registers: with
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
//   - Halt is final for every device: a halted relay refuses Unlock, a halted LED ignores Show,
//     a halted buzzer ignores Play. Board.Halt turns every LED off and silences the buzzer.
//   - A ring's Colors report the last frame written successfully; Current reports the step
//     handed to its writer. A ring's Halt waits up to a second (on the clock) for its off frame.
//   - The simulated board's pins (and the LED pin tracked in memory when none is configured)
//     are periph's gpiotest.Pin; the Sim's door and exit inputs embed it so that configuring
//     the input keeps the level the simulated switch holds (see wiredPin). The tests use
//     gpiotest.Pin too.
package hw
