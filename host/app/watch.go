package app

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDebounce lets an editor or a deploy finish writing (often several events: truncate,
// write, rename) before the files are read.
const reloadDebounce = 300 * time.Millisecond

// watch reloads the configuration when the config file, a rule module or a golden file
// changes. It watches folders rather than files, because editors and deploys replace files
// by renaming, which a watch on the old file would miss.
func (h *host) watch(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		h.log.Warn("file watching is off; reload with SIGHUP or POST /admin/reload", "err", err)
		return
	}
	defer w.Close()
	var files, dirs map[string]bool
	arm := func() {
		files, dirs = h.watched()
		want := map[string]bool{}
		for f := range files {
			want[filepath.Dir(f)] = true
		}
		for d := range dirs {
			want[d] = true
		}
		for _, d := range w.WatchList() {
			if !want[d] {
				_ = w.Remove(d)
			}
		}
		for d := range want {
			if err := w.Add(d); err != nil {
				h.log.Warn("cannot watch folder for changes", "dir", d, "err", err)
			}
		}
	}
	arm()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			name := filepath.Clean(ev.Name)
			if ev.Has(fsnotify.Chmod) || !files[name] && !dirs[filepath.Dir(name)] {
				continue
			}
			debounce.Reset(reloadDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			h.log.Warn("file watcher", "err", err)
		case <-debounce.C:
			h.log.Info("a watched file changed: reloading")
			if err := h.reload(ctx); err != nil {
				h.log.Error("reload refused; the previous configuration keeps serving", "err", err)
			}
			arm()
		}
	}
}

// watched returns the files whose change triggers a reload, and the folders any of whose
// files does (golden case folders).
func (h *host) watched() (files, dirs map[string]bool) {
	cfg := h.rt.Load().cfg
	files, dirs = map[string]bool{cfg.Path: true}, map[string]bool{}
	for _, r := range cfg.Rules {
		files[r.Module] = true
		if r.Golden != "" {
			if filepath.Ext(r.Golden) == ".json" {
				files[r.Golden] = true
			} else {
				dirs[r.Golden] = true
			}
		}
	}
	return files, dirs
}
