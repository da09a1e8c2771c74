package mqtt

import "errors"

var (
	// ErrConfig is wrapped by Config.Validate; the message names the bad key.
	ErrConfig = errors.New("mqtt: invalid config")

	// ErrSecret is returned when the command secret file cannot be read or created, or is
	// readable by other users.
	ErrSecret = errors.New("mqtt: command secret")

	// ErrUnsigned, ErrBadSignature, ErrStale, ErrReplay and ErrBadCommand are the reasons a
	// remote command is refused (Verifier.Verify); each refusal is counted and audited.
	ErrUnsigned     = errors.New("mqtt: command not signed")
	ErrBadSignature = errors.New("mqtt: command signature does not match")
	ErrStale        = errors.New("mqtt: command timestamp outside the allowed skew")
	ErrReplay       = errors.New("mqtt: command nonce already seen")
	ErrBadCommand   = errors.New("mqtt: malformed command")
)
