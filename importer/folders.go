package importer

import (
	"errors"
	"fmt"
	"strings"

	"airlock/store"
)

// defaultType is the folder each class goes to without a folder path, and
// userType the type of a folder the importer creates for it.
var (
	defaultType = map[store.Class]store.FolderType{
		store.ClassEmail: store.FolderInbox, store.ClassCalendar: store.FolderCalendar,
		store.ClassContacts: store.FolderContacts, store.ClassTasks: store.FolderTasks, store.ClassNotes: store.FolderNotes,
	}
	userType = map[store.Class]store.FolderType{
		store.ClassEmail: store.FolderUserMail, store.ClassCalendar: store.FolderUserCalendar,
		store.ClassContacts: store.FolderUserContacts, store.ClassTasks: store.FolderUserTasks, store.ClassNotes: store.FolderUserNotes,
	}
)

// target is a folder being imported into, with the keys of the items it
// already holds (see duplicates in the package doc).
type target struct {
	folder *store.Folder
	keys   map[string]bool
}

type folderKey struct {
	class    store.Class
	explicit bool
}

// target returns the folder for items of class: the folder path when one is
// given and primary (the class the path was meant for), else the class's
// default folder. The result is cached for the whole import.
func (im *importer) target(class store.Class, primary bool) (*target, error) {
	k := folderKey{class, primary && im.folderPath != ""}
	if t, ok := im.folders[k]; ok {
		return t, nil
	}
	f, err := im.resolve(class, k.explicit)
	if err != nil {
		return nil, err
	}
	// Two keys can land on one folder (an explicit path naming the Inbox):
	// share the key set so duplicates are seen across them.
	for _, t := range im.folders {
		if t.folder.ID == f.ID {
			im.folders[k] = t
			return t, nil
		}
	}
	t := &target{folder: f}
	if t.keys, err = im.existingKeys(f); err != nil {
		return nil, err
	}
	im.folders[k] = t
	return t, nil
}

func (im *importer) resolve(class store.Class, explicit bool) (*store.Folder, error) {
	byType := func() (*store.Folder, error) {
		t, ok := defaultType[class]
		if !ok {
			return nil, fmt.Errorf("import: no default folder for %s items", class)
		}
		f, err := im.st.FolderByType(im.ctx, im.user.ID, t)
		if err != nil {
			return nil, fmt.Errorf("import: default %s folder: %w", class, err)
		}
		return f, nil
	}
	if !explicit {
		return byType()
	}
	f, err := im.st.FolderByPath(im.ctx, im.user.ID, im.folderPath)
	switch {
	case err == nil && f.Class == class:
		return f, nil
	case err == nil:
		d, err := byType()
		if err != nil {
			return nil, err
		}
		if class != store.ClassTasks {
			im.reportf("%s: folder holds %s items; %s items go to %q", im.folderPath, f.Class, class, d.Name)
		}
		return d, nil
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("import: folder %q: %w", im.folderPath, err)
	case class == store.ClassTasks:
		return byType()
	}
	return im.create(class)
}

// create makes the folder path, creating each missing level as a user folder
// of class under the level above ("Archive/2019": Archive, then 2019).
func (im *importer) create(class store.Class) (*store.Folder, error) {
	var parent *store.Folder
	names := strings.Split(im.folderPath, "/")
	for i, name := range names {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("import: folder path %q has an empty name", im.folderPath)
		}
		prefix := strings.Join(names[:i+1], "/")
		f, err := im.st.FolderByPath(im.ctx, im.user.ID, prefix)
		if err == nil {
			parent = f
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("import: folder %q: %w", prefix, err)
		}
		parentID := int64(0)
		if parent != nil {
			parentID = parent.ID
		}
		if parent, err = im.st.CreateFolder(im.ctx, im.user.ID, parentID, name, userType[class]); err != nil {
			return nil, fmt.Errorf("import: create folder %q: %w", prefix, err)
		}
		im.reportf("%s: folder created", prefix)
	}
	return parent, nil
}

// existingKeys lists the duplicate keys of the items already in f, page by
// page. Mail without a Message-ID is rare, so reading those blobs to hash
// them is affordable.
func (im *importer) existingKeys(f *store.Folder) (map[string]bool, error) {
	keys := map[string]bool{}
	var after int64
	for {
		items, err := im.st.ListItems(im.ctx, im.user.ID, f.ID, after, 500)
		if err != nil {
			return nil, fmt.Errorf("import: list folder %q: %w", f.Name, err)
		}
		for _, it := range items {
			switch {
			case f.Class != store.ClassEmail:
				if it.UID != "" {
					keys["uid:"+it.UID] = true
				}
			case it.MessageID != "":
				keys["id:"+it.MessageID] = true
			default:
				raw, err := im.st.Blob(im.ctx, im.user.ID, it.ID)
				if err != nil {
					if errors.Is(err, store.ErrNotFound) {
						continue
					}
					return nil, fmt.Errorf("import: read message %d: %w", it.ID, err)
				}
				keys[mailKey("", raw)] = true
			}
		}
		if len(items) < 500 {
			return keys, nil
		}
		after = items[len(items)-1].ID
	}
}
