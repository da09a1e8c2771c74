package hw

import "errors"

// Sentinel errors of package hw. Every error returned by this package wraps one of them with
// context (fmt.Errorf("...: %w", err)); callers test with errors.Is.
var (
	// ErrWrite means a GPIO pin or SPI write failed. For the relay the door is then recorded, and
	// reported, as locked; the relay keeps retrying the locked level in the background.
	ErrWrite = errors.New("hw: write failed")

	// ErrConfig means a configuration value is invalid (nil pin, negative duration, empty or
	// unknown pattern, unknown board mode).
	ErrConfig = errors.New("hw: invalid configuration")

	// ErrHalted means the device was halted; a halted device stays inert.
	ErrHalted = errors.New("hw: device halted")

	// ErrNoGPIO means no GPIO character device (/dev/gpiochip*) could be used.
	ErrNoGPIO = errors.New("hw: no GPIO character device")

	// ErrNoSPI means a configured SPI port (an LED ring's) could not be opened.
	ErrNoSPI = errors.New("hw: SPI port not found")

	// ErrNoPin means a configured pin name is not a line of any GPIO character device.
	ErrNoPin = errors.New("hw: GPIO line not found")
)
