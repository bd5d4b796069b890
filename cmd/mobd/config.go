package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the daemon's configuration. It is read, in increasing
// precedence, from the defaults, a config file (JSON or TOML, by
// extension), MOBD_* environment variables and flags.
type Config struct {
	// Listen is the address to serve on. Default 127.0.0.1:7878.
	Listen string `json:"listen" toml:"listen"`
	// StateDir holds the journal (journal.db) and the runtimes' state root
	// (runtimes/). Default $XDG_STATE_HOME/mobd or ~/.local/state/mobd.
	StateDir string `json:"state_dir" toml:"state_dir"`
	// PoolSize is the number of runtime processes. Default 2.
	PoolSize int `json:"pool_size" toml:"pool_size"`
	// Realm is the runtimes' persistent realm id. Default "mobd".
	Realm string `json:"realm" toml:"realm"`
	// ModelLimits bounds concurrent turns per provider or model ("*",
	// "anthropic", "claude-sonnet-4-6", "provider/model").
	ModelLimits map[string]int `json:"model_limits" toml:"model_limits"`
	// AuthToken is the bearer token of the API; required to listen on a
	// non-loopback address. Never logged.
	AuthToken string `json:"auth_token" toml:"auth_token"`
	// AuthTokenFile reads AuthToken from a file (first line).
	AuthTokenFile string `json:"auth_token_file" toml:"auth_token_file"`
	// TLSCert and TLSKey serve HTTPS when both are set.
	TLSCert string `json:"tls_cert" toml:"tls_cert"`
	TLSKey  string `json:"tls_key" toml:"tls_key"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `json:"log_level" toml:"log_level"`
	// LogFormat is json or console. Default json.
	LogFormat string `json:"log_format" toml:"log_format"`
	// Runtime is "rkat-rpc" (default: the real runtime) or "sim" (rkat-sim).
	Runtime string `json:"runtime" toml:"runtime"`
	// RuntimeBin is the runtime executable; default: resolved like the SDK
	// for rkat-rpc, next to mobd or on PATH for sim.
	RuntimeBin string `json:"runtime_bin" toml:"runtime_bin"`
	// RuntimeDownload lets rkat-rpc resolution download a verified release
	// as the SDK does. Default true.
	RuntimeDownload *bool `json:"runtime_download" toml:"runtime_download"`
	// Definitions is a directory of Meerkat mob definitions (*.json,
	// *.toml) created at start when their mob does not exist yet.
	Definitions string `json:"definitions" toml:"definitions"`
	// MaxBodyBytes bounds request bodies. Default 1 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes" toml:"max_body_bytes"`
	// ShutdownTimeout bounds the graceful shutdown. Default 30s.
	ShutdownTimeout Duration `json:"shutdown_timeout" toml:"shutdown_timeout"`
	// JournalSync is how durable the journal's commits are: "normal"
	// (default: none is lost when mobd dies, but a power loss or an OS
	// crash may lose the latest ones, whose cursors an event stream's
	// client may already hold) or "full" (every commit survives power
	// loss; slower).
	JournalSync string `json:"journal_sync" toml:"journal_sync"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func defaultConfig() Config {
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" {
		if home, err := os.UserHomeDir(); err == nil {
			state = filepath.Join(home, ".local", "state")
		}
	}
	return Config{
		Listen: "127.0.0.1:7878", StateDir: filepath.Join(state, "mobd"), PoolSize: 2, Realm: "mobd",
		LogLevel: "info", LogFormat: "json", Runtime: runtimeRPC, MaxBodyBytes: 1 << 20,
		ShutdownTimeout: Duration(30 * time.Second), JournalSync: "normal",
	}
}

// setting is one configuration value settable by flag and environment.
type setting struct {
	name, env, usage string
	apply            func(c *Config, v string) error
}

func str(p func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *p(c) = v; return nil }
}

var settings = []setting{
	{"listen", "MOBD_LISTEN", "listen address (default 127.0.0.1:7878)", str(func(c *Config) *string { return &c.Listen })},
	{"state", "MOBD_STATE_DIR", "state directory: journal.db and runtimes/", str(func(c *Config) *string { return &c.StateDir })},
	{"pool-size", "MOBD_POOL_SIZE", "runtime processes (default 2)", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("pool size %q: want a positive integer", v)
		}
		c.PoolSize = n
		return nil
	}},
	{"realm", "MOBD_REALM", "runtimes' realm id (default mobd)", str(func(c *Config) *string { return &c.Realm })},
	{"model-limits", "MOBD_MODEL_LIMITS", "concurrent turns per provider/model, e.g. anthropic=4,*=16", func(c *Config, v string) error {
		limits := map[string]int{}
		for _, kv := range strings.Split(v, ",") {
			if kv = strings.TrimSpace(kv); kv == "" {
				continue
			}
			k, n, ok := strings.Cut(kv, "=")
			lim, err := strconv.Atoi(n)
			if !ok || err != nil || lim < 1 {
				return fmt.Errorf("model limit %q: want key=positive integer", kv)
			}
			limits[k] = lim
		}
		c.ModelLimits = limits
		return nil
	}},
	{"auth-token", "MOBD_AUTH_TOKEN", "bearer token of the API (prefer MOBD_AUTH_TOKEN or --auth-token-file)", str(func(c *Config) *string { return &c.AuthToken })},
	{"auth-token-file", "MOBD_AUTH_TOKEN_FILE", "file holding the bearer token", str(func(c *Config) *string { return &c.AuthTokenFile })},
	{"tls-cert", "MOBD_TLS_CERT", "TLS certificate file", str(func(c *Config) *string { return &c.TLSCert })},
	{"tls-key", "MOBD_TLS_KEY", "TLS key file", str(func(c *Config) *string { return &c.TLSKey })},
	{"log-level", "MOBD_LOG_LEVEL", "debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel })},
	{"log-format", "MOBD_LOG_FORMAT", "json or console", str(func(c *Config) *string { return &c.LogFormat })},
	{"runtime", "MOBD_RUNTIME", "rkat-rpc (the real runtime, default) or sim (rkat-sim)", str(func(c *Config) *string { return &c.Runtime })},
	{"runtime-bin", "MOBD_RUNTIME_BIN", "runtime executable", str(func(c *Config) *string { return &c.RuntimeBin })},
	{"runtime-download", "MOBD_RUNTIME_DOWNLOAD", "let rkat-rpc resolution download a verified release (default true)", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("runtime download %q: want a boolean", v)
		}
		c.RuntimeDownload = &b
		return nil
	}},
	{"definitions", "MOBD_DEFINITIONS", "directory of mob definitions to create at start", str(func(c *Config) *string { return &c.Definitions })},
	{"max-body-bytes", "MOBD_MAX_BODY_BYTES", "request body limit (default 1048576)", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("max body bytes %q: want a positive integer", v)
		}
		c.MaxBodyBytes = n
		return nil
	}},
	{"shutdown-timeout", "MOBD_SHUTDOWN_TIMEOUT", "graceful shutdown deadline (default 30s)", func(c *Config, v string) error {
		return c.ShutdownTimeout.UnmarshalText([]byte(v))
	}},
	{"journal-sync", "MOBD_JOURNAL_SYNC", "normal (default) or full: full makes every journal commit survive power loss", str(func(c *Config) *string { return &c.JournalSync })},
}

// loadConfig builds the configuration of `mobd serve` from args, the
// environment (getenv) and the config file named by --config or
// MOBD_CONFIG.
func loadConfig(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("mobd serve", flag.ContinueOnError)
	configPath := fs.String("config", getenv("MOBD_CONFIG"), "config file (JSON or TOML; env MOBD_CONFIG)")
	type kv struct {
		s *setting
		v string
	}
	var given []kv
	for i := range settings {
		st := &settings[i]
		fs.Func(st.name, st.usage+" (env "+st.env+")", func(v string) error {
			given = append(given, kv{st, v})
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg := defaultConfig()
	if *configPath != "" {
		if err := readConfigFile(*configPath, &cfg); err != nil {
			return Config{}, err
		}
	}
	for _, st := range settings {
		if v := getenv(st.env); v != "" {
			if err := st.apply(&cfg, v); err != nil {
				return Config{}, fmt.Errorf("%s: %w", st.env, err)
			}
		}
	}
	for _, g := range given {
		if err := g.s.apply(&cfg, g.v); err != nil {
			return Config{}, fmt.Errorf("--%s: %w", g.s.name, err)
		}
	}
	if cfg.AuthTokenFile != "" {
		b, err := os.ReadFile(cfg.AuthTokenFile)
		if err != nil {
			return Config{}, fmt.Errorf("auth token file: %w", err)
		}
		cfg.AuthToken, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
	}
	return cfg, cfg.validate()
}

// readConfigFile decodes a JSON or TOML config file strictly: an unknown
// key is an error.
func readConfigFile(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		md, err := toml.Decode(string(data), cfg)
		if err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return fmt.Errorf("config %s: unknown key %q", path, und[0].String())
		}
	case ".json":
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(cfg); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
	default:
		return fmt.Errorf("config %s: want a .json or .toml file", path)
	}
	return nil
}

func (c *Config) validate() error {
	var errs []error
	if c.Runtime != runtimeRPC && c.Runtime != runtimeSim {
		errs = append(errs, fmt.Errorf("runtime %q: choose --runtime %s (the real runtime) or --runtime %s (simulated agents)", c.Runtime, runtimeRPC, runtimeSim))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls: set both the certificate and the key"))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("state directory: none given and no home directory"))
	}
	if c.PoolSize < 1 {
		errs = append(errs, fmt.Errorf("pool size %d: want at least 1", c.PoolSize))
	}
	if s := strings.ToLower(c.JournalSync); s != "normal" && s != "full" {
		errs = append(errs, fmt.Errorf("journal sync %q: want normal or full", c.JournalSync))
	}
	return errors.Join(errs...)
}
