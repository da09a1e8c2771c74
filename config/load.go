package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// envAliases are the documented short names some keys also answer to.
var envAliases = map[string]string{
	"DOORFACE_DOOR_TOKEN":  "tokens.door",
	"DOORFACE_ADMIN_TOKEN": "tokens.admin",
}

// flagKeys are the settings that can also be given as flags, with their flag names and help.
var flagKeys = []struct{ key, flag, help string }{
	{"listen", "listen", "address to listen on (default :8080)"},
	{"data", "data", "data directory: database, PIN key, tokens (default ./data)"},
	{"models", "models", "models directory (default ./models)"},
	{"hw", "hw", "hardware: sim, gpio or auto (default auto)"},
	{"log_format", "log-format", "json or text (default json)"},
}

// Flags binds a command's configuration flags: --config always, and the settings a command names.
type Flags struct {
	file     *string
	values   map[string]*string
	insecure *bool // --insecure-http, for commands that serve
}

// AddFlags adds --config and the flags of the named keys ("listen", "data", "models", "hw",
// "log_format", "tls.insecure_http") to fs. A command lists only the flags it uses.
func AddFlags(fs *flag.FlagSet, keys ...string) *Flags {
	f := &Flags{file: fs.String("config", "", "YAML config file"), values: map[string]*string{}}
	for _, k := range keys {
		if k == "tls.insecure_http" {
			f.insecure = fs.Bool("insecure-http", false, "serve plain HTTP instead of HTTPS (tests and explicit local setups only)")
			continue
		}
		for _, fk := range flagKeys {
			if fk.key == k {
				f.values[k] = fs.String(fk.flag, "", fk.help)
			}
		}
	}
	return f
}

// Load builds the effective configuration after fs was parsed: defaults, then the config file,
// then DOORFACE_* variables from environ, then the flags. It validates the result.
func (f *Flags) Load(environ []string) (Config, error) {
	c := Default()
	if *f.file != "" {
		if err := LoadFile(&c, *f.file); err != nil {
			return c, err
		}
	}
	if err := loadEnv(&c, environ); err != nil {
		return c, err
	}
	byKey := leavesByKey(&c)
	for k, v := range f.values {
		if *v != "" {
			if err := setString(byKey[k], *v); err != nil {
				return c, err
			}
		}
	}
	if f.insecure != nil && *f.insecure {
		c.TLS.InsecureHTTP = true
	}
	followEngine(&c)
	return c, c.Validate()
}

// Parse parses args into fs, whose output is stderr. Asked for help (-h, --help), it prints the
// usage to stdout and returns flag.ErrHelp: the caller exits 0 without touching any data.
func Parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	fs.SetOutput(stderr)
	return fs.Parse(args)
}

// leaf is one setting of Config with its dotted key.
type leaf struct {
	key    string
	v      reflect.Value
	secret bool
}

var durationType = reflect.TypeOf(time.Duration(0))

// leaves lists every setting of c. A field tagged yaml:",inline" adds its fields at its own level;
// a field tagged "-" or without a yaml tag (a logger, a clock) is not a setting.
func leaves(c *Config) []leaf {
	var out []leaf
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if tag == "" || name == "-" || !sf.IsExported() {
				continue
			}
			fv := v.Field(i)
			if opts == "inline" {
				walk(prefix, fv)
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			if fv.Kind() == reflect.Struct && fv.Type() != durationType {
				walk(key, fv)
				continue
			}
			out = append(out, leaf{key: key, v: fv, secret: sf.Tag.Get("secret") == "true"})
		}
	}
	walk("", reflect.ValueOf(c).Elem())
	return out
}

func leavesByKey(c *Config) map[string]leaf {
	m := map[string]leaf{}
	for _, l := range leaves(c) {
		m[l.key] = l
	}
	return m
}

// Keys lists every configuration key, in the order of Config.
func Keys() []string {
	c := Default()
	var out []string
	for _, l := range leaves(&c) {
		out = append(out, l.key)
	}
	return out
}

// EnvName is the environment variable of a dotted key.
func EnvName(key string) string {
	return "DOORFACE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// setString parses s into the setting according to its type.
func setString(l leaf, s string) error {
	switch l.v.Interface().(type) {
	case string:
		l.v.SetString(s)
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return &Error{l.key, strconv.Quote(s), "a duration such as 500ms, 5s or 2m"}
		}
		l.v.SetInt(int64(d))
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return &Error{l.key, strconv.Quote(s), "true or false"}
		}
		l.v.SetBool(b)
	case int, int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return &Error{l.key, strconv.Quote(s), "a whole number"}
		}
		l.v.SetInt(n)
	case float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return &Error{l.key, strconv.Quote(s), "a number"}
		}
		l.v.SetFloat(x)
	default:
		return fmt.Errorf("config %s: unsupported type %s", l.key, l.v.Type())
	}
	return nil
}

// LoadFile merges a YAML file into c. Unknown keys are errors, so a typo never goes unnoticed. A
// file that holds a token must not be readable by other users (like the tokens file).
func LoadFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	flat := map[string]string{}
	var flatten func(prefix string, m map[string]any)
	flatten = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			switch x := v.(type) {
			case map[string]any:
				flatten(key, x)
			case nil:
			default:
				flat[key] = fmt.Sprint(x)
			}
		}
	}
	flatten("", raw)
	byKey := leavesByKey(c)
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		l, ok := byKey[k]
		if !ok {
			return &Error{Key: k, Value: strconv.Quote(flat[k]), Allowed: "unknown key (see `doorface config print` for every key)"}
		}
		if err := setString(l, flat[k]); err != nil {
			return err
		}
		if l.secret && flat[k] != "" {
			if err := privateFile(path); err != nil {
				return err
			}
		}
	}
	return nil
}

// errSecretFile is a config file holding a secret that other users can read.
var errSecretFile = errors.New("holds a token but is readable by other users; chmod 600 it, or keep the tokens in the data directory's tokens file")

func privateFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("config file %s (mode %04o) %w", path, st.Mode().Perm(), errSecretFile)
	}
	return nil
}

// loadEnv applies DOORFACE_* variables from environ.
func loadEnv(c *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "DOORFACE_") {
			env[k] = v
		}
	}
	byKey := leavesByKey(c)
	for _, l := range leaves(c) {
		if v, ok := env[EnvName(l.key)]; ok {
			if err := setString(l, v); err != nil {
				return err
			}
		}
	}
	for alias, key := range envAliases {
		if v, ok := env[alias]; ok {
			if err := setString(byKey[key], v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Print writes the effective configuration as YAML that can be used as a config file as it is.
// Tokens are left out, with a comment saying where they live: a printed configuration never
// carries a secret.
func Print(w io.Writer, c Config) error {
	root := map[string]any{}
	for _, l := range leaves(&c) {
		if l.secret {
			continue
		}
		var v any = l.v.Interface()
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		parts := strings.Split(l.key, ".")
		m := root
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	out, err := yaml.Marshal(root)
	if err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	header := "# doorface configuration (doorface config print).\n" +
		"# The API tokens are not printed: they live in " + c.Data + "/tokens.json (mode 0600), or in\n" +
		"# DOORFACE_DOOR_TOKEN / DOORFACE_ADMIN_TOKEN, or under tokens: in a config file of mode 0600.\n"
	if _, err := io.WriteString(w, header); err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
