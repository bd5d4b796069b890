package sim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// realm owns everything a runtime shares with other runtimes of the same
// realm: sessions, config and mobs. A realm with dir == "" lives only in
// memory.
type realm struct {
	id         string
	instanceID string
	backend    string
	root       string // realm directory ("" in memory)
	log        *zap.Logger

	mu       sync.Mutex
	sessions map[string]*session
	mobs     map[string]*mob

	cfgMu sync.Mutex
	cfg   configState
}

// fileStamp identifies one version of a file on disk.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(fi fs.FileInfo) fileStamp { return fileStamp{mod: fi.ModTime(), size: fi.Size()} }

// realmManifest is the realm's pinned metadata.
type realmManifest struct {
	RealmID   string `json:"realm_id"`
	Backend   string `json:"backend"`
	CreatedAt string `json:"created_at"`
}

// openRealm resolves opts into a realm, creating its directory layout and
// manifest when it is persistent.
func openRealm(opts Options) (*realm, error) {
	r := &realm{
		id:         opts.RealmID,
		instanceID: opts.InstanceID,
		backend:    opts.RealmBackend,
		log:        opts.Logger,
		sessions:   make(map[string]*session),
		mobs:       make(map[string]*mob),
		cfg:        configState{Config: defaultConfig()},
	}
	if r.id == "" {
		r.id = "isolated-" + newUUIDv4()
		r.backend = BackendMemory
		return r, nil
	}
	if opts.StateRoot == "" {
		return r, nil
	}
	if r.id == "." || r.id == ".." || strings.ContainsAny(r.id, `/\`) || strings.ContainsRune(r.id, 0) {
		return nil, fmt.Errorf("sim: realm id %q cannot be used as a directory name", r.id)
	}
	root := filepath.Join(opts.StateRoot, "realms", r.id)
	if r.backend == BackendMemory {
		// The backend is only a creation hint: an existing persistent
		// realm keeps the backend pinned in its manifest.
		if _, err := os.Stat(filepath.Join(root, "manifest.json")); err != nil {
			return r, nil
		}
	}
	r.root = root
	for _, d := range []string{r.root, r.sessionsDir(), r.mobsDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("sim: create realm dir: %w", err)
		}
	}
	lock, err := r.lock()
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	var m realmManifest
	if _, err := readJSONFile(r.manifestPath(), &m); err == nil && m.Backend != "" {
		r.backend = m.Backend
	} else if errors.Is(err, fs.ErrNotExist) || (err == nil && m.Backend == "") {
		m = realmManifest{RealmID: r.id, Backend: r.backend, CreatedAt: time.Now().UTC().Format(time.RFC3339Nano)}
		if err := writeJSONFileAtomic(r.manifestPath(), m); err != nil {
			return nil, err
		}
	} else {
		return nil, fmt.Errorf("sim: read realm manifest: %w", err)
	}
	if _, err := r.loadConfigFile(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *realm) persistent() bool     { return r.root != "" }
func (r *realm) sessionsDir() string  { return filepath.Join(r.root, "sessions") }
func (r *realm) mobsDir() string      { return filepath.Join(r.root, "mobs") }
func (r *realm) manifestPath() string { return filepath.Join(r.root, "manifest.json") }
func (r *realm) configPath() string   { return filepath.Join(r.root, "config.json") }
func (r *realm) lockPath() string     { return filepath.Join(r.root, "realm.lock") }
func (r *realm) sessionPath(id string) string {
	return filepath.Join(r.sessionsDir(), id+".json")
}
func (r *realm) mobPath(id string) string {
	return filepath.Join(r.mobsDir(), base64.RawURLEncoding.EncodeToString([]byte(id))+".json")
}

// lock takes the realm-wide inter-process lock (a no-op in memory).
func (r *realm) lock() (*fileLock, error) {
	if !r.persistent() {
		return nil, nil
	}
	l, err := lockFile(r.lockPath())
	if err != nil {
		return nil, fmt.Errorf("sim: lock realm: %w", err)
	}
	return l, nil
}

// safeFileID reports whether id can name a file inside the realm.
func safeFileID(id string) bool {
	if id == "" || len(id) > 200 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// writeFileAtomic writes data to a temp file in path's directory and renames
// it over path, so readers in any process see either the old or the new
// version.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("create temp for %s: %w", path, err)
	}
	tmp := f.Name()
	if _, err = f.Write(data); err == nil {
		err = f.Close()
	} else {
		_ = f.Close()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeJSONFileAtomic(path string, v any) error {
	data, err := marshal(v)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}

// readJSONFile decodes path into v and returns the version it read.
func readJSONFile(path string, v any) (fileStamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileStamp{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileStamp{}, fmt.Errorf("stat %s: %w", path, err)
	}
	if err := json.NewDecoder(f).Decode(v); err != nil {
		return fileStamp{}, fmt.Errorf("decode %s: %w", path, err)
	}
	return stampOf(fi), nil
}

// ---- sessions ----

// session returns the live session with id, loading or refreshing it from
// disk in a persistent realm. It returns nil if there is no such session.
func (r *realm) session(id string) *session {
	r.mu.Lock()
	s := r.sessions[id]
	r.mu.Unlock()
	if s != nil {
		if s.refresh() {
			return s
		}
		r.forget(s)
		return nil
	}
	if !r.persistent() || !safeFileID(id) {
		return nil
	}
	loaded, err := r.loadSession(id)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("load session", zap.String("session_id", id), zap.Error(err))
		}
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur := r.sessions[id]; cur != nil {
		return cur
	}
	r.sessions[id] = loaded
	return loaded
}

func (r *realm) loadSession(id string) (*session, error) {
	var data sessionData
	stamp, err := readJSONFile(r.sessionPath(id), &data)
	if err != nil {
		return nil, err
	}
	if data.ID != id {
		return nil, fmt.Errorf("session file %s holds id %q", id, data.ID)
	}
	s := newSession(r, data)
	s.stamp = stamp
	return s, nil
}

// addSession registers a brand-new session and persists it.
func (r *realm) addSession(s *session) error {
	r.mu.Lock()
	r.sessions[s.id] = s
	r.mu.Unlock()
	return s.save()
}

// forget drops a session from memory (it was archived elsewhere).
func (r *realm) forget(s *session) {
	r.mu.Lock()
	if r.sessions[s.id] == s {
		delete(r.sessions, s.id)
	}
	r.mu.Unlock()
}

// removeSession deletes a session from memory and disk.
func (r *realm) removeSession(s *session) error {
	r.forget(s)
	s.markDeleted()
	if !r.persistent() {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if err := os.Remove(r.sessionPath(s.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove session %s: %w", s.id, err)
	}
	return nil
}

// allSessions returns every live session of the realm, including sessions
// created by other processes sharing it, ordered by creation.
func (r *realm) allSessions() []*session {
	var ids []string
	if r.persistent() {
		entries, err := os.ReadDir(r.sessionsDir())
		if err != nil {
			r.log.Warn("list sessions", zap.Error(err))
		}
		for _, e := range entries {
			name := e.Name()
			if !e.IsDir() && strings.HasSuffix(name, ".json") && !strings.HasPrefix(name, ".") {
				ids = append(ids, strings.TrimSuffix(name, ".json"))
			}
		}
	}
	r.mu.Lock()
	for id := range r.sessions {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	sort.Strings(ids)
	out := make([]*session, 0, len(ids))
	var last string
	for _, id := range ids {
		if id == last {
			continue
		}
		last = id
		if s := r.session(id); s != nil {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].createdMS(), out[j].createdMS()
		if a != b {
			return a < b
		}
		return out[i].id < out[j].id
	})
	return out
}
