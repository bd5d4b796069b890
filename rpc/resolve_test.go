package rpc

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// ---------------------------------------------------------------------------
// Target

func TestTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		goos, goarch string
		target, ext  string
	}{
		{"darwin", "arm64", "aarch64-apple-darwin", "tar.gz"},
		{"darwin", "aarch64", "aarch64-apple-darwin", "tar.gz"},
		{"linux", "amd64", "x86_64-unknown-linux-gnu", "tar.gz"},
		{"linux", "x86_64", "x86_64-unknown-linux-gnu", "tar.gz"},
		{"linux", "arm64", "aarch64-unknown-linux-gnu", "tar.gz"},
		{"linux", "aarch64", "aarch64-unknown-linux-gnu", "tar.gz"},
		{"windows", "amd64", "x86_64-pc-windows-msvc", "zip"},
		{"windows", "x86_64", "x86_64-pc-windows-msvc", "zip"},
		// Unsupported.
		{"darwin", "amd64", "", ""},
		{"freebsd", "amd64", "", ""},
		{"freebsd", "arm64", "", ""},
		{"linux", "386", "", ""},
		{"linux", "riscv64", "", ""},
		{"windows", "arm64", "", ""},
		{"", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.goos+"/"+tt.goarch, func(t *testing.T) {
			target, ext, err := Target(tt.goos, tt.goarch)
			if tt.target == "" {
				if !errors.Is(err, ErrUnsupportedPlatform) {
					t.Fatalf("Target(%q, %q) err = %v, want ErrUnsupportedPlatform", tt.goos, tt.goarch, err)
				}
				if target != "" || ext != "" {
					t.Fatalf("Target returned %q, %q with an error", target, ext)
				}
				return
			}
			if err != nil {
				t.Fatalf("Target(%q, %q): %v", tt.goos, tt.goarch, err)
			}
			if target != tt.target || ext != tt.ext {
				t.Fatalf("Target(%q, %q) = %q, %q; want %q, %q", tt.goos, tt.goarch, target, ext, tt.target, tt.ext)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Binary.Args

func TestBinaryArgs(t *testing.T) {
	t.Parallel()
	modern := Binary{Path: "/opt/rkat-rpc", Source: sourcePath}
	legacy := Binary{Path: "/opt/rkat", Legacy: true, Source: sourceLegacy}
	all := SpawnArgs{
		RealmID: "team", InstanceID: "i1", RealmBackend: "sqlite",
		StateRoot: "/s", ContextRoot: "/c", UserConfigRoot: "/u",
		LiveWS: true, LiveWebRTC: true,
	}
	tests := []struct {
		name    string
		bin     Binary
		opts    SpawnArgs
		want    []string
		wantErr error
	}{
		{name: "no options", bin: modern, want: nil},
		{name: "isolated", bin: modern, opts: SpawnArgs{Isolated: true}, want: []string{"--isolated"}},
		{name: "realm and state root", bin: modern, opts: SpawnArgs{RealmID: "r", StateRoot: "/st"},
			want: []string{"--realm", "r", "--state-root", "/st"}},
		{name: "all options in protocol order", bin: modern, opts: all, want: []string{
			"--live-ws", "127.0.0.1:0", "--live-webrtc",
			"--realm", "team", "--instance", "i1", "--realm-backend", "sqlite",
			"--state-root", "/s", "--context-root", "/c", "--user-config-root", "/u",
		}},
		{name: "isolated with live and roots", bin: modern,
			opts: SpawnArgs{Isolated: true, LiveWebRTC: true, LiveWS: true, ContextRoot: "/c"},
			want: []string{"--live-ws", "127.0.0.1:0", "--live-webrtc", "--isolated", "--context-root", "/c"}},
		{name: "realm with isolated", bin: modern, opts: SpawnArgs{RealmID: "r", Isolated: true}, wantErr: ErrInvalidArgs},
		{name: "legacy no options", bin: legacy, want: []string{"rpc"}},
		{name: "legacy realm with isolated", bin: legacy, opts: SpawnArgs{RealmID: "r", Isolated: true}, wantErr: ErrInvalidArgs},
		{name: "legacy all options", bin: legacy, opts: all, wantErr: ErrLegacyBinaryUnsupported},
	}
	// Every single option is refused by the legacy binary.
	for _, o := range []SpawnArgs{
		{RealmID: "r"}, {InstanceID: "i"}, {RealmBackend: "memory"}, {StateRoot: "/s"},
		{ContextRoot: "/c"}, {UserConfigRoot: "/u"}, {Isolated: true}, {LiveWS: true}, {LiveWebRTC: true},
	} {
		tests = append(tests, struct {
			name    string
			bin     Binary
			opts    SpawnArgs
			want    []string
			wantErr error
		}{name: "legacy " + strings.Join(o.setOptions(), ","), bin: legacy, opts: o, wantErr: ErrLegacyBinaryUnsupported})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.bin.Args(tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Args err = %v, want %v", err, tt.wantErr)
				}
				if got != nil {
					t.Fatalf("Args returned %q with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Args: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Args = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLegacyArgsErrorNamesOptions(t *testing.T) {
	t.Parallel()
	_, err := Binary{Path: "/x/rkat", Legacy: true}.Args(SpawnArgs{StateRoot: "/s", LiveWS: true})
	if err == nil || !strings.Contains(err.Error(), "live_ws, state_root") {
		t.Fatalf("err = %v, want it to name live_ws, state_root", err)
	}
}

// ---------------------------------------------------------------------------
// Local resolution (environment, explicit path, PATH, legacy fallback)

// stubGetenv returns a Getenv over m.
func stubGetenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// stubLookPath returns a LookPath over m (command name → path).
func stubLookPath(m map[string]string) func(string) (string, error) {
	return func(name string) (string, error) {
		if p, ok := m[name]; ok {
			return p, nil
		}
		return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
	}
}

// writeExecutable creates a file with mode 0755 and returns its path.
func writeExecutable(t *testing.T, p string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rpcBin := writeExecutable(t, filepath.Join(dir, "bin", "rkat-rpc"), []byte("rpc"))
	rkatBin := writeExecutable(t, filepath.Join(dir, "bin", "rkat"), []byte("rkat"))
	custom := writeExecutable(t, filepath.Join(dir, "custom", "my-runtime"), []byte("custom"))
	subdir := filepath.Join(dir, "custom", "adir")
	if err := os.MkdirAll(subdir, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope", "rkat-rpc")
	onPath := map[string]string{"rkat-rpc": "/usr/bin/rkat-rpc", "rkat": "/usr/bin/rkat", "my-runtime": "/usr/local/bin/my-runtime"}
	onlyLegacy := map[string]string{"rkat": "/usr/bin/rkat"}

	tests := []struct {
		name     string
		env      map[string]string
		path     string
		lookPath map[string]string
		goos     string
		want     Binary
		wantErr  error
	}{
		{name: "PATH lookup", lookPath: onPath,
			want: Binary{Path: "/usr/bin/rkat-rpc", Source: sourcePath}},
		{name: "env absolute path", env: map[string]string{envBinPath: custom}, lookPath: onPath,
			want: Binary{Path: custom, Source: sourceEnv}},
		{name: "env trimmed", env: map[string]string{envBinPath: "  " + custom + "\n"}, lookPath: onPath,
			want: Binary{Path: custom, Source: sourceEnv}},
		{name: "env empty is skipped", env: map[string]string{envBinPath: ""}, lookPath: onPath,
			want: Binary{Path: "/usr/bin/rkat-rpc", Source: sourcePath}},
		{name: "env whitespace only", env: map[string]string{envBinPath: " \t\n"}, lookPath: onPath,
			wantErr: ErrBinaryNotFound},
		{name: "env slash path missing does not fall through", env: map[string]string{envBinPath: missing},
			path: custom, lookPath: onPath, wantErr: ErrBinaryNotFound},
		{name: "env slash path is a directory", env: map[string]string{envBinPath: subdir}, lookPath: onPath,
			wantErr: ErrBinaryNotFound},
		{name: "env backslash path missing", env: map[string]string{envBinPath: `C:\nope\rkat-rpc.exe`}, lookPath: onPath,
			wantErr: ErrBinaryNotFound},
		{name: "env name on PATH", env: map[string]string{envBinPath: "my-runtime"}, lookPath: onPath,
			want: Binary{Path: "/usr/local/bin/my-runtime", Source: sourceEnv}},
		{name: "env name not on PATH", env: map[string]string{envBinPath: "not-there"}, lookPath: onPath,
			wantErr: ErrBinaryNotFound},
		{name: "env beats explicit", env: map[string]string{envBinPath: custom}, path: rpcBin, lookPath: onPath,
			want: Binary{Path: custom, Source: sourceEnv}},
		{name: "env legacy path", env: map[string]string{envBinPath: rkatBin}, lookPath: onPath,
			want: Binary{Path: rkatBin, Legacy: true, Source: sourceEnv}},
		{name: "env legacy name", env: map[string]string{envBinPath: "rkat"}, lookPath: onPath,
			want: Binary{Path: "/usr/bin/rkat", Legacy: true, Source: sourceEnv}},
		{name: "explicit path", path: custom, lookPath: onPath,
			want: Binary{Path: custom, Source: sourceExplicit}},
		{name: "explicit name on PATH", path: "my-runtime", lookPath: onPath,
			want: Binary{Path: "/usr/local/bin/my-runtime", Source: sourceExplicit}},
		{name: "explicit missing does not fall through", path: missing, lookPath: onPath,
			wantErr: ErrBinaryNotFound},
		{name: "explicit name missing", path: "not-there", lookPath: onPath,
			wantErr: ErrBinaryNotFound},
		{name: "explicit default name means default", path: "rkat-rpc", lookPath: onPath,
			want: Binary{Path: "/usr/bin/rkat-rpc", Source: sourcePath}},
		{name: "explicit legacy path", path: rkatBin, lookPath: onPath,
			want: Binary{Path: rkatBin, Legacy: true, Source: sourceExplicit}},
		{name: "legacy fallback when download disabled", lookPath: onlyLegacy,
			want: Binary{Path: "/usr/bin/rkat", Legacy: true, Source: sourceLegacy}},
		{name: "nothing found", lookPath: map[string]string{}, wantErr: ErrBinaryNotFound},
		{name: "windows legacy exe via PATH", env: map[string]string{envBinPath: "rkat"}, goos: "windows",
			lookPath: map[string]string{"rkat": `C:\tools\rkat.exe`},
			want:     Binary{Path: `C:\tools\rkat.exe`, Legacy: true, Source: sourceEnv}},
		{name: "windows rkat-rpc exe is not legacy", goos: "windows",
			lookPath: map[string]string{"rkat-rpc": `C:\tools\rkat-rpc.exe`},
			want:     Binary{Path: `C:\tools\rkat-rpc.exe`, Source: sourcePath}},
		{name: "rkat.exe is not legacy off windows", env: map[string]string{envBinPath: "rkat.exe"},
			lookPath: map[string]string{"rkat.exe": "/usr/bin/rkat.exe"},
			want:     Binary{Path: "/usr/bin/rkat.exe", Source: sourceEnv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &Resolver{
				Path:            tt.path,
				Getenv:          stubGetenv(tt.env),
				LookPath:        stubLookPath(tt.lookPath),
				DisableDownload: true,
				GOOS:            tt.goos,
				CacheDir:        t.TempDir(),
				Logger:          zaptest.NewLogger(t),
			}
			got, err := r.Resolve(context.Background())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Resolve err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestIsLegacy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		goos, path string
		want       bool
	}{
		{"linux", "/usr/bin/rkat", true},
		{"linux", "rkat", true},
		{"linux", `C:\bin\rkat`, true},
		{"linux", "/usr/bin/rkat-rpc", false},
		{"linux", "/usr/bin/rkat.exe", false},
		{"linux", "/usr/bin/RKAT", false},
		{"linux", "/opt/rkat/rkat-rpc", false},
		{"linux", "/opt/rkat/", false},
		{"darwin", "/opt/homebrew/bin/rkat", true},
		{"windows", `C:\tools\rkat.exe`, true},
		{"windows", `C:\tools\RKAT.EXE`, true},
		{"windows", `C:\tools\rkat`, true},
		{"windows", "C:/tools/rkat.exe", true},
		{"windows", `C:\tools\rkat-rpc.exe`, false},
		{"windows", `C:\rkat\other.exe`, false},
		{"windows", ".exe", false},
	}
	for _, tt := range tests {
		r := &Resolver{GOOS: tt.goos}
		if got := r.isLegacy(tt.path); got != tt.want {
			t.Errorf("isLegacy(%s, %q) = %v, want %v", tt.goos, tt.path, got, tt.want)
		}
	}
}

func TestResolveExplicitRelativePathIsMadeAbsolute(t *testing.T) {
	dir := t.TempDir()
	writeExecutable(t, filepath.Join(dir, "sub", "rkat-rpc"), []byte("x"))
	t.Chdir(dir)
	r := &Resolver{Path: "./sub/rkat-rpc", Getenv: stubGetenv(nil), LookPath: stubLookPath(nil), DisableDownload: true}
	got, err := r.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "sub", "rkat-rpc"); got.Path != want || got.Source != sourceExplicit {
		t.Fatalf("Resolve = %+v, want Path %q Source explicit", got, want)
	}
}

// TestResolveDefaultsUseProcessEnvironment covers the nil Getenv/LookPath
// defaults (os.Getenv and exec.LookPath).
func TestResolveDefaultsUseProcessEnvironment(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("PATH executables need .exe on windows")
	}
	dir := t.TempDir()
	bin := writeExecutable(t, filepath.Join(dir, "rkat-rpc"), []byte("#!/bin/sh\n"))
	custom := writeExecutable(t, filepath.Join(dir, "other", "rt"), []byte("#!/bin/sh\n"))
	t.Setenv("PATH", dir)

	t.Setenv(envBinPath, "")
	got, err := (&Resolver{DisableDownload: true}).Resolve(context.Background())
	if err != nil || got != (Binary{Path: bin, Source: sourcePath}) {
		t.Fatalf("PATH lookup: got %+v, %v", got, err)
	}

	t.Setenv(envBinPath, custom)
	got, err = (&Resolver{DisableDownload: true}).Resolve(context.Background())
	if err != nil || got != (Binary{Path: custom, Source: sourceEnv}) {
		t.Fatalf("env: got %+v, %v", got, err)
	}
}

// ---------------------------------------------------------------------------
// Download

const testVersion = ContractVersion

// archiveMember is one archive entry.
type archiveMember struct {
	name    string
	body    string
	dir     bool
	symlink string
}

func makeTarGz(t *testing.T, members []archiveMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.body)), Typeflag: tar.TypeReg}
		switch {
		case m.dir:
			h = &tar.Header{Name: m.name, Mode: 0o755, Typeflag: tar.TypeDir}
		case m.symlink != "":
			h = &tar.Header{Name: m.name, Linkname: m.symlink, Mode: 0o777, Typeflag: tar.TypeSymlink}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeZip(t *testing.T, members []archiveMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		name := m.name
		if m.dir && !strings.HasSuffix(name, "/") {
			name += "/"
		}
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if !m.dir {
			if _, err := w.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// releaseServer serves canned responses by URL path and counts requests.
type releaseServer struct {
	*httptest.Server
	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	hits   map[string]int
}

func newReleaseServer(t *testing.T) *releaseServer {
	t.Helper()
	s := &releaseServer{routes: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		s.hits[req.URL.Path]++
		h := s.routes[req.URL.Path]
		s.mu.Unlock()
		if h == nil {
			http.NotFound(w, req)
			return
		}
		h(w, req)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *releaseServer) handle(p string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[p] = h
}

func (s *releaseServer) serve(p string, body []byte) {
	s.handle(p, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })
}

func (s *releaseServer) count(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[p]
}

func (s *releaseServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.hits {
		n += c
	}
	return n
}

// archivePath is the URL path of a release archive.
func archivePath(version, target, ext string) string {
	return fmt.Sprintf("/v%s/rkat-rpc-v%s-%s.%s", version, version, target, ext)
}

// downloadResolver resolves nothing locally, so Resolve goes to the server.
func downloadResolver(t *testing.T, srv *releaseServer, cache string) *Resolver {
	t.Helper()
	return &Resolver{
		Getenv:         stubGetenv(nil),
		LookPath:       stubLookPath(nil),
		CacheDir:       cache,
		ReleaseBaseURL: srv.URL + "/",
		HTTPClient:     srv.Client(),
		GOOS:           "linux",
		GOARCH:         "amd64",
		Logger:         zaptest.NewLogger(t),
	}
}

// tempLeftovers lists hidden (temporary) files under dir.
func tempLeftovers(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			found = append(found, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return found
}

const fakeBinary = "#!/bin/sh\necho meerkat-fake-runtime\n"

func TestResolveDownload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		goos, goarch, target, ext, name string
		members                         []archiveMember
	}{
		{"linux", "amd64", "x86_64-unknown-linux-gnu", "tar.gz", "rkat-rpc", []archiveMember{
			{name: "rkat-rpc-v0.8.26-x86_64-unknown-linux-gnu/", dir: true},
			{name: "rkat-rpc-v0.8.26-x86_64-unknown-linux-gnu/README.md", body: "readme"},
			{name: "rkat-rpc-v0.8.26-x86_64-unknown-linux-gnu/docs/rkat-rpc/", dir: true},
			{name: "rkat-rpc-v0.8.26-x86_64-unknown-linux-gnu/link/rkat-rpc", symlink: "/etc/passwd"},
			{name: "rkat-rpc-v0.8.26-x86_64-unknown-linux-gnu/bin/rkat-rpc", body: fakeBinary},
			{name: "rkat-rpc-v0.8.26-x86_64-unknown-linux-gnu/other/rkat-rpc", body: "second match, ignored"},
		}},
		{"linux", "arm64", "aarch64-unknown-linux-gnu", "tar.gz", "rkat-rpc", []archiveMember{
			{name: "rkat-rpc", body: fakeBinary},
		}},
		{"darwin", "arm64", "aarch64-apple-darwin", "tar.gz", "rkat-rpc", []archiveMember{
			{name: "./rkat-rpc-v0.8.26-aarch64-apple-darwin/rkat-rpc", body: fakeBinary},
		}},
		{"windows", "amd64", "x86_64-pc-windows-msvc", "zip", "rkat-rpc.exe", []archiveMember{
			{name: "rkat-rpc-v0.8.26-x86_64-pc-windows-msvc/", dir: true},
			{name: "rkat-rpc-v0.8.26-x86_64-pc-windows-msvc/rkat-rpc", body: "not the exe"},
			{name: "rkat-rpc-v0.8.26-x86_64-pc-windows-msvc/rkat-rpc.exe.sig", body: "sig"},
			{name: "rkat-rpc-v0.8.26-x86_64-pc-windows-msvc/rkat-rpc.exe", body: fakeBinary},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			t.Parallel()
			var archive []byte
			if tt.ext == "zip" {
				archive = makeZip(t, tt.members)
			} else {
				archive = makeTarGz(t, tt.members)
			}
			srv := newReleaseServer(t)
			ap := archivePath(testVersion, tt.target, tt.ext)
			srv.serve(ap, archive)
			cache := t.TempDir()

			r := downloadResolver(t, srv, cache)
			r.GOOS, r.GOARCH = tt.goos, tt.goarch
			r.Checksums = map[string]string{tt.target: sha256Hex(archive)}
			got, err := r.Resolve(context.Background())
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			wantPath := filepath.Join(cache, "rkat-rpc", "v"+testVersion, tt.target, tt.name)
			if got != (Binary{Path: wantPath, Source: sourceDownload}) {
				t.Fatalf("Resolve = %+v, want download at %s", got, wantPath)
			}
			data, err := os.ReadFile(got.Path)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != fakeBinary {
				t.Fatalf("installed %q, want the fake binary", data)
			}
			fi, err := os.Stat(got.Path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.goos != "windows" && runtime.GOOS != "windows" && fi.Mode().Perm() != 0o755 {
				t.Fatalf("mode = %v, want 0755", fi.Mode().Perm())
			}
			if l := tempLeftovers(t, cache); len(l) > 0 {
				t.Fatalf("temporary files left behind: %q", l)
			}
			if srv.count(ap) != 1 {
				t.Fatalf("archive fetched %d times, want 1", srv.count(ap))
			}

			// A second resolver reuses the cache without any request.
			before := srv.total()
			r2 := downloadResolver(t, srv, cache)
			r2.GOOS, r2.GOARCH = tt.goos, tt.goarch
			got2, err := r2.Resolve(context.Background())
			if err != nil {
				t.Fatalf("second Resolve: %v", err)
			}
			if got2 != (Binary{Path: wantPath, Source: sourceCache}) {
				t.Fatalf("second Resolve = %+v, want cache at %s", got2, wantPath)
			}
			if srv.total() != before {
				t.Fatalf("second Resolve made %d requests, want 0", srv.total()-before)
			}
		})
	}
}

// TestDownloadedBinaryRuns executes the installed binary end to end.
func TestDownloadedBinaryRuns(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("needs a POSIX shell")
	}
	archive := makeTarGz(t, []archiveMember{{name: "pkg/rkat-rpc", body: fakeBinary}})
	srv := newReleaseServer(t)
	srv.serve(archivePath(testVersion, "x86_64-unknown-linux-gnu", "tar.gz"), archive)
	r := downloadResolver(t, srv, t.TempDir())
	r.Checksums = map[string]string{"x86_64-unknown-linux-gnu": sha256Hex(archive)}
	b, err := r.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	args, err := b.Args(SpawnArgs{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(b.Path, args...).Output()
	if err != nil {
		t.Fatalf("running %s: %v", b.Path, err)
	}
	if strings.TrimSpace(string(out)) != "meerkat-fake-runtime" {
		t.Fatalf("output %q", out)
	}
}

func TestResolveDownloadChecksumSources(t *testing.T) {
	t.Parallel()
	const target = "x86_64-unknown-linux-gnu"
	archive := makeTarGz(t, []archiveMember{{name: "rkat-rpc", body: fakeBinary}})
	ap := archivePath(testVersion, target, "tar.gz")
	tests := []struct {
		name        string
		checksums   map[string]string
		checksumURL bool
		sumBody     string // served at ap+".sha256" when non-empty
		wantSumHits int
	}{
		{name: "pinned", checksums: map[string]string{target: sha256Hex(archive)}},
		{name: "pinned uppercase with spaces", checksums: map[string]string{target: " " + strings.ToUpper(sha256Hex(archive)) + "\n"}},
		{name: "pinned wins over URL", checksums: map[string]string{target: sha256Hex(archive)}, checksumURL: true,
			sumBody: strings.Repeat("0", 64)},
		{name: "sha256 URL with file name", checksumURL: true,
			sumBody: sha256Hex(archive) + "  rkat-rpc-v0.8.26-x86_64-unknown-linux-gnu.tar.gz\n", wantSumHits: 1},
		{name: "sha256 URL bare uppercase", checksumURL: true, sumBody: strings.ToUpper(sha256Hex(archive)), wantSumHits: 1},
		{name: "sha256 URL used when map lacks target", checksumURL: true,
			checksums: map[string]string{"aarch64-apple-darwin": strings.Repeat("1", 64)},
			sumBody:   sha256Hex(archive), wantSumHits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newReleaseServer(t)
			srv.serve(ap, archive)
			if tt.sumBody != "" {
				srv.serve(ap+".sha256", []byte(tt.sumBody))
			}
			r := downloadResolver(t, srv, t.TempDir())
			r.Checksums, r.ChecksumURL = tt.checksums, tt.checksumURL
			b, err := r.Resolve(context.Background())
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if b.Source != sourceDownload {
				t.Fatalf("Source = %q, want download", b.Source)
			}
			if got := srv.count(ap + ".sha256"); got != tt.wantSumHits {
				t.Fatalf(".sha256 fetched %d times, want %d", got, tt.wantSumHits)
			}
		})
	}
}

func TestResolveDownloadFailures(t *testing.T) {
	t.Parallel()
	const target = "x86_64-unknown-linux-gnu"
	ap := archivePath(testVersion, target, "tar.gz")
	good := makeTarGz(t, []archiveMember{{name: "dir/rkat-rpc", body: strings.Repeat("binary ", 4096)}})
	half := good[:len(good)/2]
	noBinary := makeTarGz(t, []archiveMember{{name: "dir/rkat", body: "legacy"}, {name: "dir/rkat-rpc.sig", body: "sig"}})
	const winTarget = "x86_64-pc-windows-msvc"
	winAP := archivePath(testVersion, winTarget, "zip")
	noExe := makeZip(t, []archiveMember{{name: "dir/rkat-rpc", body: "unix build"}, {name: "dir/", dir: true}})
	garbage := []byte("this is not a gzip stream")
	zero := strings.Repeat("0", 64)

	tests := []struct {
		name        string
		goos        string
		version     string
		checksums   map[string]string
		checksumURL bool
		routes      map[string]http.HandlerFunc
		legacy      bool     // put legacy rkat on PATH
		wantErr     error    // for Resolve without legacy
		wantMsg     []string // substrings of the error
		wantHits    int      // requests to the archive URL
		archive     string   // archive URL path when not the linux one
	}{
		{name: "checksum mismatch", checksums: map[string]string{target: zero},
			routes:  map[string]http.HandlerFunc{ap: serveBody(good)},
			wantErr: ErrDownloadFailed, wantMsg: []string{"mismatch", "expected " + zero, "got " + sha256Hex(good)}, wantHits: 1},
		{name: "404", checksums: map[string]string{target: sha256Hex(good)},
			routes:  map[string]http.HandlerFunc{},
			wantErr: ErrDownloadFailed, wantMsg: []string{"404"}, wantHits: 1},
		{name: "500", checksums: map[string]string{target: sha256Hex(good)},
			routes: map[string]http.HandlerFunc{ap: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "boom", http.StatusInternalServerError)
			}},
			wantErr: ErrDownloadFailed, wantMsg: []string{"500"}, wantHits: 1},
		{name: "truncated archive fails verification", checksums: map[string]string{target: sha256Hex(good)},
			routes:  map[string]http.HandlerFunc{ap: serveBody(half)},
			wantErr: ErrDownloadFailed, wantMsg: []string{"mismatch"}, wantHits: 1},
		{name: "truncated archive with matching checksum is corrupt", checksums: map[string]string{target: sha256Hex(half)},
			routes:  map[string]http.HandlerFunc{ap: serveBody(half)},
			wantErr: ErrDownloadFailed, wantMsg: []string{"corrupt archive"}, wantHits: 1},
		{name: "connection cut short of Content-Length", checksums: map[string]string{target: sha256Hex(good)},
			routes: map[string]http.HandlerFunc{ap: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", fmt.Sprint(len(good)))
				_, _ = w.Write(half)
			}},
			wantErr: ErrDownloadFailed, wantHits: 1},
		{name: "not a gzip stream", checksums: map[string]string{target: sha256Hex(garbage)},
			routes:  map[string]http.HandlerFunc{ap: serveBody(garbage)},
			wantErr: ErrDownloadFailed, wantMsg: []string{"corrupt archive"}, wantHits: 1},
		{name: "archive without the binary", checksums: map[string]string{target: sha256Hex(noBinary)},
			routes:  map[string]http.HandlerFunc{ap: serveBody(noBinary)},
			wantErr: ErrDownloadFailed, wantMsg: []string{"no rkat-rpc"}, wantHits: 1},
		{name: "zip without the exe", goos: "windows", checksums: map[string]string{winTarget: sha256Hex(noExe)},
			routes:  map[string]http.HandlerFunc{winAP: serveBody(noExe)},
			wantErr: ErrDownloadFailed, wantMsg: []string{"no rkat-rpc.exe"}, wantHits: 1, archive: winAP},
		{name: "zip target served a tar.gz", goos: "windows", checksums: map[string]string{winTarget: sha256Hex(good)},
			routes:  map[string]http.HandlerFunc{winAP: serveBody(good)},
			wantErr: ErrDownloadFailed, wantMsg: []string{"corrupt archive"}, wantHits: 1, archive: winAP},
		{name: "no checksum known", routes: map[string]http.HandlerFunc{ap: serveBody(good)},
			wantErr: ErrDownloadFailed, wantMsg: []string{"no SHA-256 known", target}, wantHits: 0},
		{name: "checksum for another target only", checksums: map[string]string{"aarch64-apple-darwin": sha256Hex(good)},
			routes:  map[string]http.HandlerFunc{ap: serveBody(good)},
			wantErr: ErrDownloadFailed, wantMsg: []string{"no SHA-256 known"}, wantHits: 0},
		{name: "malformed pinned checksum", checksums: map[string]string{target: "abc123"},
			routes:  map[string]http.HandlerFunc{ap: serveBody(good)},
			wantErr: ErrDownloadFailed, wantMsg: []string{"not a hex SHA-256"}, wantHits: 0},
		{name: "sha256 URL missing", checksumURL: true, routes: map[string]http.HandlerFunc{ap: serveBody(good)},
			wantErr: ErrDownloadFailed, wantMsg: []string{".sha256", "404"}, wantHits: 0},
		{name: "sha256 URL garbage", checksumURL: true,
			routes:  map[string]http.HandlerFunc{ap: serveBody(good), ap + ".sha256": serveBody([]byte("<html>not found</html>"))},
			wantErr: ErrDownloadFailed, wantMsg: []string{"does not start with a hex SHA-256"}, wantHits: 0},
		{name: "sha256 URL empty", checksumURL: true,
			routes:  map[string]http.HandlerFunc{ap: serveBody(good), ap + ".sha256": serveBody(nil)},
			wantErr: ErrDownloadFailed, wantHits: 0},
		{name: "sha256 URL wrong value", checksumURL: true,
			routes:  map[string]http.HandlerFunc{ap: serveBody(good), ap + ".sha256": serveBody([]byte(zero + "\n"))},
			wantErr: ErrDownloadFailed, wantMsg: []string{"mismatch"}, wantHits: 1},
		{name: "sha256 URL failing is not a missing one", checksumURL: true,
			routes: map[string]http.HandlerFunc{ap: serveBody(good), manifestPath(testVersion): serveBody([]byte(sha256Hex(good) + "  " + path.Base(ap) + "\n")),
				ap + ".sha256": func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusBadGateway) }},
			wantErr: ErrDownloadFailed, wantMsg: []string{".sha256", "502"}, wantHits: 0},
		{name: "manifest wrong value", checksumURL: true,
			routes:  map[string]http.HandlerFunc{ap: serveBody(good), manifestPath(testVersion): serveBody([]byte(zero + "  " + path.Base(ap) + "\n"))},
			wantErr: ErrDownloadFailed, wantMsg: []string{"mismatch"}, wantHits: 1},
		{name: "manifest without the archive", checksumURL: true,
			routes: map[string]http.HandlerFunc{ap: serveBody(good),
				manifestPath(testVersion): serveBody([]byte(sha256Hex(good) + "  rkat-rpc-v0.8.26-aarch64-apple-darwin.tar.gz\n" + sha256Hex(good) + "  " + path.Base(ap) + ".sig\n"))},
			wantErr: ErrDownloadFailed, wantMsg: []string{"does not list", path.Base(ap)}, wantHits: 0},
		{name: "manifest entry not a checksum", checksumURL: true,
			routes:  map[string]http.HandlerFunc{ap: serveBody(good), manifestPath(testVersion): serveBody([]byte("xyz  " + path.Base(ap) + "\n"))},
			wantErr: ErrDownloadFailed, wantMsg: []string{"not a hex SHA-256"}, wantHits: 0},
		{name: "manifest failing", checksumURL: true,
			routes: map[string]http.HandlerFunc{ap: serveBody(good),
				manifestPath(testVersion): func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }},
			wantErr: ErrDownloadFailed, wantMsg: []string{"checksums.sha256", "500"}, wantHits: 0},
		{name: "unsupported platform", goos: "freebsd", checksums: map[string]string{target: sha256Hex(good)},
			routes:  map[string]http.HandlerFunc{ap: serveBody(good)},
			wantErr: ErrUnsupportedPlatform, wantMsg: []string{"freebsd/amd64"}, wantHits: 0},
		{name: "invalid version", version: "../../etc", checksums: map[string]string{target: sha256Hex(good)},
			routes:  map[string]http.HandlerFunc{ap: serveBody(good)},
			wantErr: ErrDownloadFailed, wantMsg: []string{"invalid release version"}, wantHits: 0},
	}
	for _, tt := range tests {
		for _, legacy := range []bool{false, true} {
			name := tt.name
			if legacy {
				name += "/legacy fallback"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv := newReleaseServer(t)
				for p, h := range tt.routes {
					srv.handle(p, h)
				}
				cache := t.TempDir()
				r := downloadResolver(t, srv, cache)
				if tt.goos != "" {
					r.GOOS = tt.goos
				}
				r.Version = tt.version
				r.Checksums, r.ChecksumURL = tt.checksums, tt.checksumURL
				if legacy {
					r.LookPath = stubLookPath(map[string]string{"rkat": "/usr/bin/rkat"})
				}
				got, err := r.Resolve(context.Background())
				if legacy {
					if err != nil {
						t.Fatalf("Resolve with legacy rkat: %v", err)
					}
					if got != (Binary{Path: "/usr/bin/rkat", Legacy: true, Source: sourceLegacy}) {
						t.Fatalf("Resolve = %+v, want legacy fallback", got)
					}
				} else {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("Resolve err = %v, want %v", err, tt.wantErr)
					}
					for _, m := range tt.wantMsg {
						if !strings.Contains(err.Error(), m) {
							t.Errorf("error %q does not mention %q", err, m)
						}
					}
				}
				hitPath := ap
				if tt.archive != "" {
					hitPath = tt.archive
				}
				if srv.count(hitPath) != tt.wantHits {
					t.Errorf("archive fetched %d times, want %d", srv.count(hitPath), tt.wantHits)
				}
				// Nothing usable or temporary is left in the cache.
				var files []string
				_ = filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						files = append(files, p)
					}
					return nil
				})
				if len(files) > 0 {
					t.Errorf("cache not clean after failure: %q", files)
				}
			})
		}
	}
}

// serveBody serves b.
func serveBody(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(b) }
}

// manifestPath is the URL path of a release's checksum manifest.
func manifestPath(version string) string { return "/v" + version + "/checksums.sha256" }

// TestDefaultResolverVerifiesReleaseChecksum checks the Resolver Connect
// builds from default Options: it downloads a release whose checksum the
// release publishes (its own .sha256, or its line in the release's
// checksum manifest), and installs nothing whose checksum is missing or
// does not match. Only the network and environment seams are redirected
// to the local release server.
func TestDefaultResolverVerifiesReleaseChecksum(t *testing.T) {
	t.Parallel()
	const target = "x86_64-unknown-linux-gnu"
	ap := archivePath(testVersion, target, "tar.gz")
	archive := makeTarGz(t, []archiveMember{{name: "rkat-rpc", body: fakeBinary}})
	sum := sha256Hex(archive)
	other := sha256Hex([]byte("another archive"))
	manifest := func(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }
	tests := []struct {
		name   string
		routes map[string][]byte
		ok     bool
	}{
		{"per-archive .sha256", map[string][]byte{ap + ".sha256": []byte(sum + "  " + path.Base(ap) + "\n")}, true},
		{"release manifest", map[string][]byte{manifestPath(testVersion): manifest(
			other+"  rkat-rpc-v0.8.26-aarch64-apple-darwin.tar.gz", sum+"  "+path.Base(ap), other+"  rkat-v0.8.26-"+target+".tar.gz")}, true},
		{"release manifest, binary mode", map[string][]byte{manifestPath(testVersion): manifest(strings.ToUpper(sum) + " *" + path.Base(ap))}, true},
		{"no checksum published", nil, false},
		{"manifest lists another archive", map[string][]byte{manifestPath(testVersion): manifest(sum + "  rkat-v0.8.26-" + target + ".tar.gz")}, false},
		{"manifest mismatch", map[string][]byte{manifestPath(testVersion): manifest(other + "  " + path.Base(ap))}, false},
		{".sha256 mismatch wins over a good manifest", map[string][]byte{ap + ".sha256": []byte(other),
			manifestPath(testVersion): manifest(sum + "  " + path.Base(ap))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newReleaseServer(t)
			srv.serve(ap, archive)
			for p, b := range tt.routes {
				srv.serve(p, b)
			}
			opts := Options{Logger: zaptest.NewLogger(t)}
			r := opts.resolver()
			if !r.ChecksumURL || len(r.Checksums) > 0 || r.DisableDownload || r.Path != "" || r.ReleaseBaseURL != "" {
				t.Fatalf("default resolver = %+v, want release checksums and the documented defaults", r)
			}
			cache := t.TempDir()
			r.Getenv, r.LookPath = stubGetenv(nil), stubLookPath(nil)
			r.CacheDir, r.ReleaseBaseURL, r.HTTPClient = cache, srv.URL, srv.Client()
			r.GOOS, r.GOARCH = "linux", "amd64"
			b, err := r.Resolve(context.Background())
			if tt.ok {
				if err != nil || b.Source != sourceDownload {
					t.Fatalf("Resolve = %+v, %v", b, err)
				}
				return
			}
			if !errors.Is(err, ErrDownloadFailed) {
				t.Fatalf("Resolve = %+v, %v; want ErrDownloadFailed", b, err)
			}
			if l := tempLeftovers(t, cache); len(l) > 0 || isRegularFile(filepath.Join(cache, "rkat-rpc", "v"+testVersion, target, "rkat-rpc")) {
				t.Fatalf("something was installed: %q", l)
			}
		})
	}

	// An explicit Resolver is used as given.
	own := &Resolver{Path: "/opt/rkat-rpc"}
	if got := (&Options{Resolver: own, BinaryPath: "ignored"}).resolver(); got != own {
		t.Fatalf("Options.Resolver was replaced by %+v", got)
	}
	if got := (&Options{BinaryPath: "/opt/rkat-rpc"}).resolver(); got.Path != "/opt/rkat-rpc" || !got.ChecksumURL {
		t.Fatalf("resolver from BinaryPath = %+v", got)
	}
}

func TestResolveDownloadVersionOverride(t *testing.T) {
	t.Parallel()
	const target = "aarch64-unknown-linux-gnu"
	archive := makeTarGz(t, []archiveMember{{name: "rkat-rpc", body: fakeBinary}})
	srv := newReleaseServer(t)
	ap := archivePath("0.9.1", target, "tar.gz")
	srv.serve(ap, archive)
	cache := t.TempDir()
	r := downloadResolver(t, srv, cache)
	r.GOARCH, r.Version = "arm64", "v0.9.1"
	r.Checksums = map[string]string{target: sha256Hex(archive)}
	b, err := r.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "rkat-rpc", "v0.9.1", target, "rkat-rpc"); b.Path != want {
		t.Fatalf("Path = %s, want %s", b.Path, want)
	}
	if srv.count(ap) != 1 {
		t.Fatalf("archive at %s fetched %d times", ap, srv.count(ap))
	}
}

func TestResolveDownloadDisabledSkipsNetwork(t *testing.T) {
	t.Parallel()
	srv := newReleaseServer(t)
	r := downloadResolver(t, srv, t.TempDir())
	r.DisableDownload = true
	r.Checksums = map[string]string{"x86_64-unknown-linux-gnu": strings.Repeat("0", 64)}
	_, err := r.Resolve(context.Background())
	if !errors.Is(err, ErrBinaryNotFound) {
		t.Fatalf("err = %v, want ErrBinaryNotFound", err)
	}
	if srv.total() != 0 {
		t.Fatalf("%d requests with download disabled", srv.total())
	}
}

func TestResolveDownloadContextCancelled(t *testing.T) {
	t.Parallel()
	const target = "x86_64-unknown-linux-gnu"
	ap := archivePath(testVersion, target, "tar.gz")
	archive := makeTarGz(t, []archiveMember{{name: "rkat-rpc", body: fakeBinary}})

	t.Run("during transfer", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		srv := newReleaseServer(t)
		srv.handle(ap, func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(archive)))
			_, _ = w.Write(archive[:10])
			w.(http.Flusher).Flush()
			cancel() // the client gives up mid-body
			<-req.Context().Done()
		})
		cache := t.TempDir()
		r := downloadResolver(t, srv, cache)
		r.Checksums = map[string]string{target: sha256Hex(archive)}
		r.LookPath = stubLookPath(map[string]string{"rkat": "/usr/bin/rkat"}) // must not be used
		_, err := r.Resolve(ctx)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrDownloadFailed) {
			t.Fatalf("err = %v, want ErrDownloadFailed wrapping context.Canceled", err)
		}
		if l := tempLeftovers(t, cache); len(l) > 0 {
			t.Fatalf("temporary files left behind: %q", l)
		}
	})

	t.Run("before start", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		srv := newReleaseServer(t)
		srv.serve(ap, archive)
		r := downloadResolver(t, srv, t.TempDir())
		r.Checksums = map[string]string{target: sha256Hex(archive)}
		_, err := r.Resolve(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if srv.total() != 0 {
			t.Fatalf("%d requests after cancellation", srv.total())
		}
	})
}

func TestResolveConcurrent(t *testing.T) {
	t.Parallel()
	const target = "x86_64-unknown-linux-gnu"
	ap := archivePath(testVersion, target, "tar.gz")
	archive := makeTarGz(t, []archiveMember{{name: "rkat-rpc", body: fakeBinary}})
	srv := newReleaseServer(t)
	srv.serve(ap, archive)
	cache := t.TempDir()

	const n = 16
	results := make([]Binary, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := downloadResolver(t, srv, cache)
			r.Checksums = map[string]string{target: sha256Hex(archive)}
			results[i], errs[i] = r.Resolve(context.Background())
		})
	}
	wg.Wait()
	downloads := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("resolver %d: %v", i, errs[i])
		}
		if results[i].Path != results[0].Path {
			t.Fatalf("resolver %d got %s, resolver 0 got %s", i, results[i].Path, results[0].Path)
		}
		if results[i].Source == sourceDownload {
			downloads++
		}
	}
	if downloads != 1 || srv.count(ap) != 1 {
		t.Fatalf("%d downloads, %d archive requests; want 1 each", downloads, srv.count(ap))
	}
	data, err := os.ReadFile(results[0].Path)
	if err != nil || string(data) != fakeBinary {
		t.Fatalf("cached binary = %q, %v", data, err)
	}
	if l := tempLeftovers(t, cache); len(l) > 0 {
		t.Fatalf("temporary files left behind: %q", l)
	}
}

// TestInstallConcurrentWriters models separate processes (no shared
// in-process lock) installing the same binary at once.
func TestInstallConcurrentWriters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	payload := strings.Repeat("payload-", 64<<10)
	archivePath := filepath.Join(dir, "a.tar.gz")
	if err := os.WriteFile(archivePath, makeTarGz(t, []archiveMember{{name: "x/rkat-rpc", body: payload}}), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "out", "rkat-rpc")
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f, err := os.Open(archivePath)
			if err != nil {
				errs[i] = err
				return
			}
			defer f.Close()
			errs[i] = install(context.Background(), f, 0, "tar.gz", "rkat-rpc", dest, true)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	data, err := os.ReadFile(dest)
	if err != nil || string(data) != payload {
		t.Fatalf("installed %d bytes, %v; want the %d-byte payload", len(data), err, len(payload))
	}
	if l := tempLeftovers(t, filepath.Dir(dest)); len(l) > 0 {
		t.Fatalf("temporary files left behind: %q", l)
	}
}

func TestLockInstallHonoursContext(t *testing.T) {
	t.Parallel()
	key := filepath.Join(t.TempDir(), "rkat-rpc")
	unlock, err := lockInstall(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lockInstall(ctx, key); !errors.Is(err, context.Canceled) {
		t.Fatalf("lockInstall while held with cancelled ctx: err = %v", err)
	}
	unlock()
	unlock2, err := lockInstall(context.Background(), key)
	if err != nil {
		t.Fatalf("lockInstall after unlock: %v", err)
	}
	unlock2()
}

// TestResolveDefaultCacheDirAndClient covers the zero-value CacheDir and
// HTTPClient (os.UserCacheDir honours XDG_CACHE_HOME on Linux).
func TestResolveDefaultCacheDirAndClient(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("XDG_CACHE_HOME only drives os.UserCacheDir on Linux")
	}
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	const target = "x86_64-unknown-linux-gnu"
	archive := makeTarGz(t, []archiveMember{{name: "rkat-rpc", body: fakeBinary}})
	srv := newReleaseServer(t)
	srv.serve(archivePath(testVersion, target, "tar.gz"), archive)
	r := downloadResolver(t, srv, "")
	r.HTTPClient = nil
	r.Logger = nil
	r.Checksums = map[string]string{target: sha256Hex(archive)}
	b, err := r.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(xdg, "meerkat", "bin", "rkat-rpc", "v"+testVersion, target, "rkat-rpc"); b.Path != want {
		t.Fatalf("Path = %s, want %s", b.Path, want)
	}
}

// ---------------------------------------------------------------------------
// fetch limits

func TestFetchLimitsAndStalls(t *testing.T) {
	t.Parallel()
	payload := bytes.Repeat([]byte("x"), 100)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		limit   int64
		idle    time.Duration
		wantMsg string
	}{
		{name: "declared length over limit", handler: serveBody(payload), limit: 10, idle: time.Minute,
			wantMsg: "exceeds the 10-byte limit"},
		{name: "chunked body over limit", limit: 10, idle: time.Minute, wantMsg: "exceeds the 10-byte limit",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write(payload[:5])
				w.(http.Flusher).Flush() // no Content-Length: chunked
				_, _ = w.Write(payload[5:])
			}},
		{name: "stalled body", limit: 1 << 20, idle: 50 * time.Millisecond, wantMsg: "no data for 50ms",
			handler: func(w http.ResponseWriter, req *http.Request) {
				w.Header().Set("Content-Length", "100")
				_, _ = w.Write(payload[:5])
				w.(http.Flusher).Flush()
				<-req.Context().Done()
			}},
		{name: "stalled headers", limit: 1 << 20, idle: 50 * time.Millisecond, wantMsg: "no data for 50ms",
			handler: func(_ http.ResponseWriter, req *http.Request) { <-req.Context().Done() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			var sink bytes.Buffer
			_, _, err := fetch(context.Background(), srv.Client(), srv.URL+"/f", &sink, tt.limit, tt.idle)
			if !errors.Is(err, ErrDownloadFailed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want ErrDownloadFailed mentioning %q", err, tt.wantMsg)
			}
		})
	}

	t.Run("exact limit ok", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(serveBody(payload))
		defer srv.Close()
		var sink bytes.Buffer
		n, sum, err := fetch(context.Background(), srv.Client(), srv.URL+"/f", &sink, int64(len(payload)), time.Minute)
		if err != nil || n != int64(len(payload)) || sum != sha256Hex(payload) || !bytes.Equal(sink.Bytes(), payload) {
			t.Fatalf("fetch = %d, %s, %v", n, sum, err)
		}
	})
}
