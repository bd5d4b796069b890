package sim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// DefaultContractVersion is the Meerkat contract version the simulator speaks
// and reports unless Options.ContractVersion overrides it.
const DefaultContractVersion = "0.8.26"

// Realm backends accepted by --realm-backend.
const (
	BackendSQLite = "sqlite"
	BackendJSONL  = "jsonl"
	BackendMemory = "memory"
)

// ErrHelp is returned by ParseArgs when -h or --help is given.
var ErrHelp = errors.New("sim: help requested")

// Usage describes the command line accepted by ParseArgs.
const Usage = `usage: rkat-sim [flags]

Simulated Meerkat runtime speaking the rkat-rpc JSON-RPC protocol on stdio.

  --realm <id>               share sessions with other processes using this realm
  --instance <id>            instance id reported in config envelopes
  --realm-backend <b>        sqlite | jsonl | memory (creation hint; pinned in the realm manifest)
  --isolated                 fresh isolated in-memory realm (conflicts with --realm)
  --state-root <dir>         directory holding persistent realms
  --context-root <dir>       project context root (recorded only)
  --user-config-root <dir>   user config root (recorded only)
  --live-ws <addr>, --live-webrtc, --tcp <addr>, --allow-remote,
  --live-tool-timeout-ms <n>, --live-ws-scheme <ws|wss>
                             accepted and ignored

environment (read by the rkat-sim executable):
  RKAT_SIM_TOKEN_DELAY        per text_delta delay (Go duration, e.g. 20ms)
  RKAT_SIM_SCRIPT             script file (JSON) mapping prompts/labels/methods to directives
  RKAT_SIM_TRANSCRIPT_DIR     directory for per-process transcript files
  RKAT_SIM_CONTRACT_VERSION   contract version to report
  RKAT_SIM_LOG_LEVEL          debug | info | warn | error (logs go to stderr)
`

// Options configures a simulated runtime. Zero value = documented defaults:
// an isolated in-memory realm with a generated id, no token delay, no script,
// no transcript, contract version DefaultContractVersion and a no-op logger.
type Options struct {
	// RealmID names the realm. Sessions, config and mobs persist under
	// StateRoot/realms/<RealmID>/ when StateRoot is set and the backend is
	// not memory. Empty means a fresh isolated realm.
	RealmID string
	// InstanceID is reported in config envelopes (null when empty).
	InstanceID string
	// RealmBackend is sqlite, jsonl or memory; it is a creation hint: an
	// existing realm keeps the backend pinned in its manifest. Empty means
	// sqlite for a named realm and memory for an isolated one.
	RealmBackend string
	// StateRoot is the directory holding persistent realms.
	StateRoot string
	// ContextRoot and UserConfigRoot are recorded but not used.
	ContextRoot, UserConfigRoot string
	// Isolated forces a fresh isolated in-memory realm.
	Isolated bool
	// TokenDelay is slept after every text_delta; default 0.
	TokenDelay time.Duration
	// ScriptPath optionally names a JSON script file (see the package doc).
	ScriptPath string
	// TranscriptPath, if set, is a file to which a transcript line is
	// appended for every message written to the output.
	TranscriptPath string
	// ContractVersion is the version reported by initialize and
	// capabilities/get; default DefaultContractVersion.
	ContractVersion string
	// Logger receives diagnostics; default zap.NewNop().
	Logger *zap.Logger
	// Args records the argv the runtime was started with.
	Args []string
}

// ParseArgs parses rkat-rpc's command-line flags (argv without the program
// name) into Options. Both "--flag value" and "--flag=value" are accepted; a
// leading "rpc" word (the legacy `rkat rpc` form) is ignored.
func ParseArgs(args []string) (Options, error) {
	opts := Options{Args: append([]string(nil), args...)}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if i == 0 && arg == "rpc" {
			continue
		}
		if arg == "-h" || arg == "--help" {
			return opts, ErrHelp
		}
		if !strings.HasPrefix(arg, "--") {
			return opts, fmt.Errorf("sim: unexpected argument %q", arg)
		}
		name, value, hasValue := strings.Cut(arg[2:], "=")
		takeValue := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("sim: flag --%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		boolValue := func() (bool, error) {
			if !hasValue {
				return true, nil
			}
			b, err := strconv.ParseBool(value)
			if err != nil {
				return false, fmt.Errorf("sim: flag --%s: %w", name, err)
			}
			return b, nil
		}
		var err error
		switch name {
		case "realm":
			opts.RealmID, err = takeValue()
			if err == nil && strings.TrimSpace(opts.RealmID) == "" {
				err = errors.New("sim: --realm must not be empty")
			}
		case "instance":
			opts.InstanceID, err = takeValue()
		case "realm-backend":
			opts.RealmBackend, err = takeValue()
			if err == nil {
				switch opts.RealmBackend {
				case BackendSQLite, BackendJSONL, BackendMemory:
				default:
					err = fmt.Errorf("sim: invalid --realm-backend %q (want sqlite, jsonl or memory)", opts.RealmBackend)
				}
			}
		case "isolated":
			opts.Isolated, err = boolValue()
		case "state-root":
			opts.StateRoot, err = takeValue()
		case "context-root":
			opts.ContextRoot, err = takeValue()
		case "user-config-root":
			opts.UserConfigRoot, err = takeValue()
		case "live-ws", "tcp":
			_, err = takeValue()
		case "live-ws-scheme":
			var v string
			v, err = takeValue()
			if err == nil && v != "ws" && v != "wss" {
				err = fmt.Errorf("sim: invalid --live-ws-scheme %q", v)
			}
		case "live-tool-timeout-ms":
			var v string
			v, err = takeValue()
			if err == nil {
				if _, perr := strconv.ParseUint(v, 10, 64); perr != nil {
					err = fmt.Errorf("sim: invalid --live-tool-timeout-ms %q: %w", v, perr)
				}
			}
		case "live-webrtc", "allow-remote":
			_, err = boolValue()
		default:
			err = fmt.Errorf("sim: unknown flag --%s", name)
		}
		if err != nil {
			return opts, err
		}
	}
	if opts.Isolated && opts.RealmID != "" {
		return opts, errors.New("sim: --realm conflicts with --isolated")
	}
	return opts, nil
}

// ApplyEnv layers the simulator's environment variables onto o, using lookup
// (typically os.LookupEnv): RKAT_SIM_TOKEN_DELAY (Go duration),
// RKAT_SIM_SCRIPT and RKAT_SIM_CONTRACT_VERSION. Transcript placement and the
// log level are the executable's business.
func (o *Options) ApplyEnv(lookup func(string) (string, bool)) error {
	if v, ok := lookup("RKAT_SIM_TOKEN_DELAY"); ok && strings.TrimSpace(v) != "" {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return fmt.Errorf("sim: invalid RKAT_SIM_TOKEN_DELAY %q", v)
		}
		o.TokenDelay = d
	}
	if v, ok := lookup("RKAT_SIM_SCRIPT"); ok && strings.TrimSpace(v) != "" {
		o.ScriptPath = strings.TrimSpace(v)
	}
	if v, ok := lookup("RKAT_SIM_CONTRACT_VERSION"); ok && strings.TrimSpace(v) != "" {
		o.ContractVersion = strings.TrimSpace(v)
	}
	return nil
}

// withDefaults returns a copy of o with defaults filled in.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.ContractVersion == "" {
		o.ContractVersion = DefaultContractVersion
	}
	if o.Isolated {
		o.RealmID = ""
	}
	if o.RealmBackend == "" {
		if o.RealmID == "" {
			o.RealmBackend = BackendMemory
		} else {
			o.RealmBackend = BackendSQLite
		}
	}
	return o
}

// contractTriple parses "major.minor.patch[-pre][+build]" leniently.
func contractTriple(v string) (major, minor, patch uint64) {
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	nums := []*uint64{&major, &minor, &patch}
	for i, p := range parts {
		if i >= len(nums) {
			break
		}
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return 0, 0, 0
		}
		*nums[i] = n
	}
	return major, minor, patch
}
