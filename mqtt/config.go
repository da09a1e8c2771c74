package mqtt

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Defaults of the settings.
const (
	DefaultPrefix          = "doorface"
	DefaultDoorID          = "door"
	DefaultDiscoveryPrefix = "homeassistant"
	DefaultQueue           = 1000
	DefaultCommandSkew     = 30 * time.Second
	DefaultPublishTimeout  = 5 * time.Second
)

// Config is the "mqtt" section of the daemon's configuration. The client is off unless Enabled.
type Config struct {
	// Enabled turns the client on. Off by default: the door needs no broker.
	Enabled bool `yaml:"enabled"`
	// Broker is the broker's URL: tcp://host:1883, ssl://host:8883 (TLS), ws:// or wss://.
	Broker string `yaml:"broker"`
	// ClientID is the MQTT client id; default "doorface-<door_id>". It must be unique on the broker.
	ClientID string `yaml:"client_id"`
	// Username for the broker; empty means none.
	Username string `yaml:"username"`
	// Password for the broker. It is a secret: set it by DOORFACE_MQTT_PASSWORD or in a config
	// file that only its owner can read, never on the command line; or use PasswordFile.
	Password string `yaml:"password" secret:"true"`
	// PasswordFile is a file holding the password (one line); it wins over Password.
	PasswordFile string `yaml:"password_file"`
	// CAFile is a PEM bundle the broker's certificate must chain to (ssl:// and wss://); empty
	// means the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and key (PEM) for brokers that require one.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Prefix is the first level of every topic the door publishes: <prefix>/<door_id>/...
	Prefix string `yaml:"prefix"`
	// DoorID names this door on the broker: letters, digits, '_' and '-'.
	DoorID string `yaml:"door_id"`
	// Discovery publishes Home Assistant MQTT discovery (retained) under DiscoveryPrefix; when
	// false the door removes the entities it published before.
	Discovery bool `yaml:"discovery"`
	// DiscoveryPrefix is Home Assistant's discovery prefix.
	DiscoveryPrefix string `yaml:"discovery_prefix"`
	// PublishNames puts the user's name in granted events and the "last granted" sensor; off, only
	// the user id is published. PINs, templates and photos are never published.
	PublishNames bool `yaml:"publish_names"`
	// Queue bounds the events kept while the broker is unreachable; when full the oldest is
	// dropped and counted.
	Queue int `yaml:"queue"`
	// CommandSkew is how far a command's timestamp may be from the door's clock.
	CommandSkew time.Duration `yaml:"command_skew"`
	// PublishTimeout bounds the wait for one acknowledgement before the door retries later.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
}

// DefaultConfig returns the defaults: disabled, prefix doorface, door id door, discovery on.
func DefaultConfig() Config {
	return Config{
		Prefix: DefaultPrefix, DoorID: DefaultDoorID, Discovery: true, DiscoveryPrefix: DefaultDiscoveryPrefix,
		Queue: DefaultQueue, CommandSkew: DefaultCommandSkew, PublishTimeout: DefaultPublishTimeout,
	}
}

var (
	idPattern    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	topicPattern = regexp.MustCompile(`^[A-Za-z0-9_/-]{1,128}$`)
)

// Validate reports the first bad setting by its key ("key=value: what is allowed"), wrapping
// ErrConfig. A disabled section is only checked for well-formed names.
func (c Config) Validate() error {
	switch {
	case !idPattern.MatchString(c.DoorID):
		return fmt.Errorf("%w: door_id=%q: 1 to 64 letters, digits, '_' or '-'", ErrConfig, c.DoorID)
	case !topicPattern.MatchString(c.Prefix) || strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/") || strings.Contains(c.Prefix, "//"):
		return fmt.Errorf("%w: prefix=%q: topic levels of letters, digits, '_' or '-' separated by '/', no wildcards", ErrConfig, c.Prefix)
	case !topicPattern.MatchString(c.DiscoveryPrefix):
		return fmt.Errorf("%w: discovery_prefix=%q: letters, digits, '_', '-' or '/'", ErrConfig, c.DiscoveryPrefix)
	case c.ClientID != "" && !idPattern.MatchString(c.ClientID):
		return fmt.Errorf("%w: client_id=%q: 1 to 64 letters, digits, '_' or '-'", ErrConfig, c.ClientID)
	case c.Queue < 1 || c.Queue > 1_000_000:
		return fmt.Errorf("%w: queue=%d: a whole number from 1 to 1000000", ErrConfig, c.Queue)
	case c.CommandSkew < time.Second || c.CommandSkew > 10*time.Minute:
		return fmt.Errorf("%w: command_skew=%v: from 1s to 10m", ErrConfig, c.CommandSkew)
	case c.PublishTimeout < 100*time.Millisecond || c.PublishTimeout > time.Minute:
		return fmt.Errorf("%w: publish_timeout=%v: from 100ms to 1m", ErrConfig, c.PublishTimeout)
	case (c.CertFile == "") != (c.KeyFile == ""):
		return fmt.Errorf("%w: cert_file=%q: cert_file and key_file are given together or not at all", ErrConfig, c.CertFile)
	}
	if !c.Enabled {
		return nil
	}
	u, err := url.Parse(c.Broker)
	if c.Broker == "" || err != nil || u.Host == "" {
		return fmt.Errorf("%w: broker=%q: a URL such as tcp://127.0.0.1:1883 or ssl://broker:8883", ErrConfig, c.Broker)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("%w: broker=%q: scheme tcp, mqtt, ssl, tls, mqtts, ws or wss", ErrConfig, c.Broker)
	}
	if u.User != nil {
		return fmt.Errorf("%w: broker=%q: no credentials in the URL; use username and password_file", ErrConfig, u.Redacted())
	}
	return nil
}

// clientID is the effective client id.
func (c Config) clientID() string {
	if c.ClientID != "" {
		return c.ClientID
	}
	return "doorface-" + c.DoorID
}
