package rpc

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ContractVersion is the Meerkat contract version this SDK speaks.
const ContractVersion = "0.8.26"

// Resolution defaults (protocol.md §2).
const (
	// binaryName is the runtime's command name; it is also the value of
	// Resolver.Path that means "use the default resolution".
	binaryName = "rkat-rpc"
	// legacyName is the combined CLI, run as `rkat rpc`.
	legacyName = "rkat"
	// envBinPath overrides every other resolution step.
	envBinPath = "MEERKAT_BIN_PATH"
	// defaultReleaseBaseURL is where release archives are downloaded from.
	defaultReleaseBaseURL = "https://github.com/lukacf/meerkat/releases/download"
	// networkTimeout bounds connecting, the TLS handshake, waiting for
	// response headers and any stall while reading a body.
	networkTimeout = 30 * time.Second
	// maxArchiveBytes caps the size of a downloaded archive and of the binary
	// extracted from it.
	maxArchiveBytes = 512 << 20
	// maxChecksumBytes caps the size of a fetched ".sha256" file or
	// checksum manifest.
	maxChecksumBytes = 64 << 10
	// checksumManifest is the release-wide checksum file of a release.
	checksumManifest = "checksums.sha256"
)

// Binary sources reported in [Binary.Source].
const (
	sourceEnv      = "env"
	sourceExplicit = "explicit"
	sourcePath     = "path"
	sourceDownload = "download"
	sourceCache    = "cache"
	sourceLegacy   = "legacy"
)

// Resolver finds the runtime binary. Zero value = documented defaults.
//
// Resolution order (see [Resolver.Resolve]): the MEERKAT_BIN_PATH
// environment variable, then Path, then rkat-rpc on PATH, then a verified
// auto-download into CacheDir, then the legacy `rkat` CLI on PATH.
type Resolver struct {
	// Path is an explicit path or command name; "" or "rkat-rpc" means default.
	Path string
	// Getenv reads environment variables; default os.Getenv (tests inject).
	Getenv func(string) string
	// LookPath searches PATH for a command; default exec.LookPath.
	LookPath func(string) (string, error)
	// CacheDir is the download cache root; default os.UserCacheDir()/meerkat/bin.
	// Binaries live at {CacheDir}/rkat-rpc/v{version}/{target}/rkat-rpc[.exe].
	// A binary already there is reused as is (it was verified when installed).
	CacheDir string
	// ReleaseBaseURL is the release download root; default
	// "https://github.com/lukacf/meerkat/releases/download".
	ReleaseBaseURL string
	// Checksums maps a release target (see [Target]) to the expected
	// lowercase hex SHA-256 of that target's release archive.
	Checksums map[string]string
	// ChecksumURL, when true and Checksums has no entry for the target,
	// takes the expected checksum from the release itself: the first hex
	// token of "<archive URL>.sha256" or, when the release has no such file
	// (HTTP 404), the archive's line ("<hex>  <archive name>") in the
	// release-wide manifest "checksums.sha256" beside it. An archive whose
	// checksum cannot be fetched, is not listed, or does not match is never
	// installed. This detects corruption and truncation but trusts the
	// release host; pin Checksums for stronger guarantees. The Resolver
	// [Connect] builds by default sets it; the zero Resolver does not.
	ChecksumURL bool
	// DisableDownload turns off the auto-download step.
	DisableDownload bool
	// HTTPClient performs downloads. Default: a client with 30 s connect,
	// TLS-handshake and response-header timeouts. Whatever the client, a
	// download that delivers no data for 30 s is abandoned.
	HTTPClient *http.Client
	// GOOS and GOARCH select the release target; default runtime.GOOS and
	// runtime.GOARCH (tests inject).
	GOOS, GOARCH string
	// Version is the release to download; default ContractVersion. A leading
	// "v" is ignored.
	Version string
	// Logger receives resolution and download diagnostics; default nop.
	Logger *zap.Logger
}

// Binary is a resolved runtime executable.
type Binary struct {
	// Path is the executable to run (absolute unless it came from a PATH
	// lookup that returned a relative name).
	Path string
	// Legacy reports that Path is the combined `rkat` CLI, run as `rkat rpc`.
	Legacy bool
	// Source says which resolution step found the binary: "env",
	// "explicit", "path", "download", "cache" or "legacy".
	Source string
}

// SpawnArgs are the connect options that become runtime command-line flags.
type SpawnArgs struct {
	// RealmID selects a shared realm (--realm). Not allowed with Isolated.
	RealmID string
	// InstanceID names this runtime instance (--instance).
	InstanceID string
	// RealmBackend is the realm store: "sqlite", "jsonl" or "memory" (--realm-backend).
	RealmBackend string
	// StateRoot is the state directory (--state-root).
	StateRoot string
	// ContextRoot is the context directory (--context-root).
	ContextRoot string
	// UserConfigRoot is the user configuration directory (--user-config-root).
	UserConfigRoot string
	// Isolated asks for a fresh isolated realm (--isolated).
	Isolated bool
	// LiveWS enables the live WebSocket listener on an ephemeral loopback
	// port (--live-ws 127.0.0.1:0).
	LiveWS bool
	// LiveWebRTC enables live WebRTC (--live-webrtc).
	LiveWebRTC bool
}

// Args returns the argv (without argv[0]) for the given connect options;
// legacy → ["rpc"] and ErrLegacyBinaryUnsupported if any realm/root/live
// option is set. RealmID together with Isolated is rejected with an error
// wrapping [ErrInvalidArgs]. Flags appear in the order of protocol.md §1.1.
func (b Binary) Args(o SpawnArgs) ([]string, error) {
	if o.RealmID != "" && o.Isolated {
		return nil, fmt.Errorf("%w: realm_id and isolated are mutually exclusive", ErrInvalidArgs)
	}
	if b.Legacy {
		if set := o.setOptions(); len(set) > 0 {
			return nil, fmt.Errorf("%w: %s (binary %s); install rkat-rpc to use them",
				ErrLegacyBinaryUnsupported, strings.Join(set, ", "), b.Path)
		}
		return []string{"rpc"}, nil
	}
	args := make([]string, 0, 16)
	if o.LiveWS {
		args = append(args, "--live-ws", "127.0.0.1:0")
	}
	if o.LiveWebRTC {
		args = append(args, "--live-webrtc")
	}
	if o.Isolated {
		args = append(args, "--isolated")
	}
	for _, f := range []struct{ flag, value string }{
		{"--realm", o.RealmID},
		{"--instance", o.InstanceID},
		{"--realm-backend", o.RealmBackend},
		{"--state-root", o.StateRoot},
		{"--context-root", o.ContextRoot},
		{"--user-config-root", o.UserConfigRoot},
	} {
		if f.value != "" {
			args = append(args, f.flag, f.value)
		}
	}
	return args, nil
}

// setOptions names the options that are set, in flag order.
func (o SpawnArgs) setOptions() []string {
	var set []string
	for _, f := range []struct {
		name string
		on   bool
	}{
		{"live_ws", o.LiveWS},
		{"live_webrtc", o.LiveWebRTC},
		{"isolated", o.Isolated},
		{"realm_id", o.RealmID != ""},
		{"instance_id", o.InstanceID != ""},
		{"realm_backend", o.RealmBackend != ""},
		{"state_root", o.StateRoot != ""},
		{"context_root", o.ContextRoot != ""},
		{"user_config_root", o.UserConfigRoot != ""},
	} {
		if f.on {
			set = append(set, f.name)
		}
	}
	return set
}

// Target returns the release target triple and archive extension for
// goos/goarch, or ErrUnsupportedPlatform. Releases exist for macOS arm64,
// Linux amd64 and arm64 (tar.gz) and Windows amd64 (zip); the Rust spellings
// "x86_64" and "aarch64" are accepted for goarch.
func Target(goos, goarch string) (target, ext string, err error) {
	switch goarch {
	case "x86_64":
		goarch = "amd64"
	case "aarch64":
		goarch = "arm64"
	}
	switch goos + "/" + goarch {
	case "darwin/arm64":
		return "aarch64-apple-darwin", "tar.gz", nil
	case "linux/amd64":
		return "x86_64-unknown-linux-gnu", "tar.gz", nil
	case "linux/arm64":
		return "aarch64-unknown-linux-gnu", "tar.gz", nil
	case "windows/amd64":
		return "x86_64-pc-windows-msvc", "zip", nil
	}
	return "", "", fmt.Errorf("%w: no rkat-rpc release for %s/%s", ErrUnsupportedPlatform, goos, goarch)
}

// Resolve finds the binary in the documented order: MEERKAT_BIN_PATH (trim;
// whitespace-only → ErrBinaryNotFound; contains / or \ → must be an existing
// file, else PATH lookup), explicit Path (same rule), rkat-rpc on PATH,
// auto-download for the platform target into the cache (reuse when present),
// then legacy `rkat` on PATH (`rkat rpc`) if the download failed, else the
// download error; finally ErrBinaryNotFound. Basename `rkat` ⇒ Legacy.
//
// A download is only ever installed after its archive's SHA-256 matched the
// expected value from Checksums or (with ChecksumURL) the checksum the
// release publishes; with neither, the download step fails with
// [ErrDownloadFailed]. When
// DisableDownload is set the download step is skipped and the legacy
// fallback is still tried. If ctx ends during the download, Resolve returns
// an error wrapping both ErrDownloadFailed and ctx's error, without falling
// back.
func (r *Resolver) Resolve(ctx context.Context) (Binary, error) {
	log := r.logger()

	// 1. MEERKAT_BIN_PATH. Unset and empty are indistinguishable via Getenv
	// and both skip the step.
	if raw := r.getenv(envBinPath); raw != "" {
		v := strings.TrimSpace(raw)
		if v == "" {
			return Binary{}, fmt.Errorf("%w: %s is set but blank", ErrBinaryNotFound, envBinPath)
		}
		p, err := r.locate(v)
		if err != nil {
			return Binary{}, fmt.Errorf("%w: %s=%q: %v", ErrBinaryNotFound, envBinPath, v, err)
		}
		b := r.binary(p, sourceEnv)
		log.Debug("rkat binary from environment", zap.String("path", b.Path), zap.Bool("legacy", b.Legacy))
		return b, nil
	}

	// 2. Explicit path or command name.
	if r.Path != "" && r.Path != binaryName {
		p, err := r.locate(r.Path)
		if err != nil {
			return Binary{}, fmt.Errorf("%w: %q: %v", ErrBinaryNotFound, r.Path, err)
		}
		b := r.binary(p, sourceExplicit)
		log.Debug("rkat binary from explicit path", zap.String("path", b.Path), zap.Bool("legacy", b.Legacy))
		return b, nil
	}

	// 3. rkat-rpc on PATH.
	if p, err := r.lookPath(binaryName); err == nil {
		b := r.binary(p, sourcePath)
		log.Debug("rkat-rpc found on PATH", zap.String("path", b.Path))
		return b, nil
	}

	// 4. Auto-download (or reuse the cached download).
	var dlErr error
	if r.DisableDownload {
		log.Debug("rkat-rpc not on PATH and auto-download disabled")
	} else {
		b, err := r.download(ctx)
		if err == nil {
			return b, nil
		}
		if ctx.Err() != nil {
			return Binary{}, err
		}
		dlErr = err
	}

	// Legacy fallback: `rkat rpc`.
	if p, err := r.lookPath(legacyName); err == nil {
		b := Binary{Path: p, Legacy: true, Source: sourceLegacy}
		log.Warn("falling back to legacy rkat binary; realm, root and live options are unavailable",
			zap.String("path", p), zap.NamedError("download_error", dlErr))
		return b, nil
	}
	if dlErr != nil {
		return Binary{}, dlErr
	}

	// 5. Nothing found.
	return Binary{}, fmt.Errorf("%w: %s is not on PATH, auto-download is disabled and no legacy %s is on PATH (set %s)",
		ErrBinaryNotFound, binaryName, legacyName, envBinPath)
}

// locate applies the path rule of steps 1 and 2: a value containing a path
// separator must name an existing file; anything else is looked up on PATH.
func (r *Resolver) locate(v string) (string, error) {
	if strings.ContainsAny(v, `/\`) {
		fi, err := os.Stat(v)
		if err != nil {
			// Drop the *PathError wrapper: the caller already names v.
			if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
				return "", pe.Err
			}
			return "", err
		}
		if !fi.Mode().IsRegular() {
			return "", errors.New("not a regular file")
		}
		if abs, err := filepath.Abs(v); err == nil {
			v = abs
		}
		return v, nil
	}
	p, err := r.lookPath(v)
	if err != nil {
		return "", fmt.Errorf("not found on PATH: %v", err)
	}
	return p, nil
}

// binary builds a Binary, detecting the legacy CLI by basename.
func (r *Resolver) binary(p, source string) Binary {
	return Binary{Path: p, Legacy: r.isLegacy(p), Source: source}
}

// isLegacy reports whether p's basename is `rkat` (`rkat.exe` on Windows).
func (r *Resolver) isLegacy(p string) bool {
	base := p[strings.LastIndexAny(p, `/\`)+1:]
	if r.goos() == "windows" {
		if len(base) > 4 && strings.EqualFold(base[len(base)-4:], ".exe") {
			base = base[:len(base)-4]
		}
		return strings.EqualFold(base, legacyName)
	}
	return base == legacyName
}

func (r *Resolver) getenv(k string) string {
	if r.Getenv != nil {
		return r.Getenv(k)
	}
	return os.Getenv(k)
}

func (r *Resolver) lookPath(name string) (string, error) {
	if r.LookPath != nil {
		return r.LookPath(name)
	}
	return exec.LookPath(name)
}

func (r *Resolver) logger() *zap.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return zap.NewNop()
}

func (r *Resolver) goos() string {
	if r.GOOS != "" {
		return r.GOOS
	}
	return runtime.GOOS
}

func (r *Resolver) goarch() string {
	if r.GOARCH != "" {
		return r.GOARCH
	}
	return runtime.GOARCH
}

func (r *Resolver) httpClient() *http.Client {
	if r.HTTPClient != nil {
		return r.HTTPClient
	}
	return defaultHTTPClient()
}

var (
	defaultClientOnce sync.Once
	defaultClient     *http.Client
)

// defaultHTTPClient returns a shared client whose connect, TLS-handshake and
// response-header phases each time out after 30 s. There is deliberately no
// overall deadline (a large archive on a slow link may take longer than
// 30 s); stalled bodies are caught by the download's idle timer instead.
func defaultHTTPClient() *http.Client {
	defaultClientOnce.Do(func() {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: networkTimeout, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = networkTimeout
		t.ResponseHeaderTimeout = networkTimeout
		defaultClient = &http.Client{Transport: t}
	})
	return defaultClient
}

// download installs (or reuses) the release binary for this platform.
func (r *Resolver) download(ctx context.Context) (Binary, error) {
	log := r.logger()
	if err := ctx.Err(); err != nil {
		return Binary{}, fmt.Errorf("%w: %w", ErrDownloadFailed, err)
	}
	goos := r.goos()
	target, ext, err := Target(goos, r.goarch())
	if err != nil {
		return Binary{}, err
	}
	version := strings.TrimPrefix(r.Version, "v")
	if version == "" {
		version = ContractVersion
	}
	if !validVersion(version) {
		return Binary{}, fmt.Errorf("%w: invalid release version %q", ErrDownloadFailed, r.Version)
	}
	root := r.CacheDir
	if root == "" {
		ucd, err := os.UserCacheDir()
		if err != nil {
			return Binary{}, fmt.Errorf("%w: no cache directory: %v", ErrDownloadFailed, err)
		}
		root = filepath.Join(ucd, "meerkat", "bin")
	}
	name := binaryName
	if goos == "windows" {
		name += ".exe"
	}
	dir := filepath.Join(root, binaryName, "v"+version, target)
	dest := filepath.Join(dir, name)
	if isRegularFile(dest) {
		log.Debug("using cached rkat-rpc", zap.String("path", dest))
		return Binary{Path: dest, Source: sourceCache}, nil
	}

	// Serialize installs of the same file within this process so concurrent
	// resolvers download once; across processes, unique temp names plus an
	// atomic rename keep the cache consistent.
	unlock, err := lockInstall(ctx, dest)
	if err != nil {
		return Binary{}, fmt.Errorf("%w: %w", ErrDownloadFailed, err)
	}
	defer unlock()
	if isRegularFile(dest) {
		log.Debug("using cached rkat-rpc", zap.String("path", dest))
		return Binary{Path: dest, Source: sourceCache}, nil
	}

	base := strings.TrimRight(r.ReleaseBaseURL, "/")
	if base == "" {
		base = defaultReleaseBaseURL
	}
	url := fmt.Sprintf("%s/v%s/%s-v%s-%s.%s", base, version, binaryName, version, target, ext)
	client := r.httpClient()

	want, err := r.expectedChecksum(ctx, client, target, url)
	if err != nil {
		return Binary{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binary{}, fmt.Errorf("%w: %v", ErrDownloadFailed, err)
	}
	log.Info("downloading rkat-rpc", zap.String("url", url), zap.String("target", target))
	archive, err := os.CreateTemp(dir, "."+binaryName+".*."+ext+".part")
	if err != nil {
		return Binary{}, fmt.Errorf("%w: %v", ErrDownloadFailed, err)
	}
	defer func() {
		_ = archive.Close()
		_ = os.Remove(archive.Name())
	}()
	size, got, err := fetch(ctx, client, url, archive, maxArchiveBytes, networkTimeout)
	if err != nil {
		return Binary{}, err
	}
	if got != want {
		return Binary{}, fmt.Errorf("%w: %s: SHA-256 mismatch: expected %s, got %s", ErrDownloadFailed, url, want, got)
	}
	if err := install(ctx, archive, size, ext, name, dest, goos != "windows"); err != nil {
		return Binary{}, fmt.Errorf("%w: %s: %w", ErrDownloadFailed, url, err)
	}
	log.Info("installed rkat-rpc", zap.String("path", dest), zap.String("sha256", got))
	return Binary{Path: dest, Source: sourceDownload}, nil
}

// expectedChecksum returns the archive's expected SHA-256 (lowercase hex).
func (r *Resolver) expectedChecksum(ctx context.Context, client *http.Client, target, url string) (string, error) {
	if v, ok := r.Checksums[target]; ok {
		sum := strings.ToLower(strings.TrimSpace(v))
		if !isSHA256Hex(sum) {
			return "", fmt.Errorf("%w: Checksums[%q] = %q is not a hex SHA-256", ErrDownloadFailed, target, v)
		}
		return sum, nil
	}
	if !r.ChecksumURL {
		return "", fmt.Errorf("%w: no SHA-256 known for target %s; refusing to install an unverified binary (set Resolver.Checksums or Resolver.ChecksumURL, or install rkat-rpc on PATH)",
			ErrDownloadFailed, target)
	}
	var body strings.Builder
	_, _, err := fetch(ctx, client, url+".sha256", &body, maxChecksumBytes, networkTimeout)
	if errors.Is(err, errHTTPNotFound) {
		return r.manifestChecksum(ctx, client, url)
	}
	if err != nil {
		return "", err
	}
	fields := strings.Fields(body.String())
	if len(fields) == 0 || !isSHA256Hex(strings.ToLower(fields[0])) {
		return "", fmt.Errorf("%w: %s.sha256 does not start with a hex SHA-256", ErrDownloadFailed, url)
	}
	return strings.ToLower(fields[0]), nil
}

// manifestChecksum looks the archive at url up in the release's checksum
// manifest, sha256sum's format: "<hex>  <name>" (or "<hex> *<name>") per
// line; it is used when the archive has no .sha256 of its own.
func (r *Resolver) manifestChecksum(ctx context.Context, client *http.Client, url string) (string, error) {
	dir, name := path.Split(url)
	manifest := dir + checksumManifest
	var body strings.Builder
	if _, _, err := fetch(ctx, client, manifest, &body, maxChecksumBytes, networkTimeout); err != nil {
		if errors.Is(err, errHTTPNotFound) {
			return "", fmt.Errorf("%w: the release publishes no checksum for %s (%s.sha256 and %s: HTTP 404)",
				ErrDownloadFailed, name, url, manifest)
		}
		return "", err
	}
	for _, line := range strings.Split(body.String(), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 2 || strings.TrimPrefix(fields[1], "*") != name {
			continue
		}
		sum := strings.ToLower(fields[0])
		if !isSHA256Hex(sum) {
			return "", fmt.Errorf("%w: %s lists %s with %q, not a hex SHA-256", ErrDownloadFailed, manifest, name, fields[0])
		}
		return sum, nil
	}
	return "", fmt.Errorf("%w: %s does not list %s", ErrDownloadFailed, manifest, name)
}

// errStalled cancels a download that made no progress for the idle timeout.
var errStalled = errors.New("download stalled")

// errHTTPNotFound marks a fetch answered 404 Not Found.
var errHTTPNotFound = errors.New("not found")

// fetch GETs url into w, reading at most limit bytes, and returns the number
// of bytes written and their SHA-256. The transfer is abandoned when no data
// arrives for idle. Every failure wraps ErrDownloadFailed.
func fetch(ctx context.Context, client *http.Client, url string, w io.Writer, limit int64, idle time.Duration) (int64, string, error) {
	fail := func(format string, args ...any) (int64, string, error) {
		return 0, "", fmt.Errorf("%w: %s: "+format, append([]any{ErrDownloadFailed, url}, args...)...)
	}
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(idle, func() { cancel(errStalled) })
	defer timer.Stop()
	// cause explains a failure by the context's cause when there is one.
	cause := func(err error) error {
		if c := context.Cause(dctx); c != nil {
			if errors.Is(c, errStalled) {
				return fmt.Errorf("no data for %s", idle)
			}
			return c
		}
		return err
	}

	req, err := http.NewRequestWithContext(dctx, http.MethodGet, url, nil)
	if err != nil {
		return fail("%v", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail("%w", cause(err))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusNotFound {
		return fail("HTTP status %s: %w", resp.Status, errHTTPNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		return fail("HTTP status %s", resp.Status)
	}
	if resp.ContentLength > limit {
		return fail("response of %d bytes exceeds the %d-byte limit", resp.ContentLength, limit)
	}
	h := sha256.New()
	body := &progressReader{r: io.LimitReader(resp.Body, limit+1), timer: timer, idle: idle}
	n, err := io.Copy(io.MultiWriter(w, h), body)
	if err != nil {
		return fail("reading body: %w", cause(err))
	}
	if n > limit {
		return fail("response exceeds the %d-byte limit", limit)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fail("truncated body: got %d of %d bytes", n, resp.ContentLength)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// progressReader re-arms an idle timer whenever data arrives.
type progressReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.timer.Reset(p.idle)
	}
	return n, err
}

// install extracts the first regular member named name (at any depth) from
// the archive into dest: it writes a uniquely named ".<name>.*.download"
// file beside dest, optionally makes it executable, syncs it and renames it
// into place.
func install(ctx context.Context, archive *os.File, size int64, ext, name, dest string, chmod bool) error {
	if _, err := archive.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+name+".*.download")
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	switch ext {
	case "zip":
		err = extractZip(ctx, archive, size, name, tmp)
	default:
		err = extractTarGz(ctx, archive, name, tmp)
	}
	if err != nil {
		return err
	}
	if chmod {
		if err := tmp.Chmod(0o755); err != nil {
			return err
		}
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		// Another process may have installed it meanwhile (on Windows the
		// rename fails while that copy is running): use theirs.
		if isRegularFile(dest) {
			_ = os.Remove(tmp.Name())
			committed = true
			return nil
		}
		return err
	}
	committed = true
	syncDir(filepath.Dir(dest))
	return nil
}

// memberName reports whether an archive member path has basename name.
func memberName(member, name string) bool {
	return path.Base(strings.ReplaceAll(member, `\`, "/")) == name
}

func extractTarGz(ctx context.Context, f io.Reader, name string, w io.Writer) error {
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("corrupt archive: %w", err)
	}
	defer func() { _ = gz.Close() }()
	tr := tar.NewReader(gz)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("archive has no %s", name)
		}
		if err != nil {
			return fmt.Errorf("corrupt archive: %w", err)
		}
		if !hdr.FileInfo().Mode().IsRegular() || !memberName(hdr.Name, name) {
			continue
		}
		if hdr.Size > maxArchiveBytes {
			return fmt.Errorf("%s is %d bytes, over the %d-byte limit", hdr.Name, hdr.Size, maxArchiveBytes)
		}
		if _, err := io.Copy(w, tr); err != nil {
			return fmt.Errorf("corrupt archive: extracting %s: %w", hdr.Name, err)
		}
		return nil
	}
}

func extractZip(ctx context.Context, f io.ReaderAt, size int64, name string, w io.Writer) error {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return fmt.Errorf("corrupt archive: %w", err)
	}
	for _, m := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !m.Mode().IsRegular() || !memberName(m.Name, name) {
			continue
		}
		if m.UncompressedSize64 > maxArchiveBytes {
			return fmt.Errorf("%s is %d bytes, over the %d-byte limit", m.Name, m.UncompressedSize64, maxArchiveBytes)
		}
		rc, err := m.Open()
		if err != nil {
			return fmt.Errorf("corrupt archive: %w", err)
		}
		defer func() { _ = rc.Close() }()
		// The zip reader checks the declared size and CRC-32 at EOF; the
		// limit guards against a lying header.
		n, err := io.Copy(w, io.LimitReader(rc, maxArchiveBytes+1))
		if err != nil {
			return fmt.Errorf("corrupt archive: extracting %s: %w", m.Name, err)
		}
		if n > maxArchiveBytes {
			return fmt.Errorf("%s exceeds the %d-byte limit", m.Name, maxArchiveBytes)
		}
		return nil
	}
	return fmt.Errorf("archive has no %s", name)
}

// installLocks holds one single-slot channel per destination path.
var installLocks sync.Map

// lockInstall takes the in-process install lock for dest, honouring ctx.
func lockInstall(ctx context.Context, dest string) (unlock func(), err error) {
	v, _ := installLocks.LoadOrStore(dest, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// syncDir makes a rename durable where the platform supports it.
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func isRegularFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isSHA256Hex(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// validVersion accepts release versions like "0.8.26" or "0.9.0-rc.1" and
// rejects anything that could escape the cache directory or the URL path.
func validVersion(v string) bool {
	if v == "" || v[0] == '.' || strings.Contains(v, "..") {
		return false
	}
	for _, c := range v {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '.', c == '-', c == '+':
		default:
			return false
		}
	}
	return true
}
