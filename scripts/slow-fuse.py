#!/usr/bin/env python3
"""A passthrough FUSE file system whose fsyncs can be slow: a stand-in for a shared file system.

    slow-fuse.py ROOT MOUNTPOINT [--fsync-ms 450] [--every 2] [--direct-io] [--create-wronly]

Mirrors ROOT at MOUNTPOINT (runs in the foreground until `fusermount -u MOUNTPOINT`). Every --every'th
fsync/fdatasync (and syncfs-like flush of a directory) sleeps --fsync-ms first, as the issue 15 report
("half the fsyncs take 450 ms") describes. --direct-io bypasses the kernel page cache, as many network
FUSE file systems (sshfs -o direct_io, s3fs) do. --create-wronly opens a created file write-only whatever
the caller asked, as fusepy's own loopback example does: the kernel then reads the pages of a shared
mapping of that file through a descriptor that cannot read, and the process touching them dies of SIGBUS
(how SQLite's WAL `-shm` crashed vocut in issue 15). Needs Debian's python3-fusepy (module `fusepy`).
Used by the issue 15 checks (ledger on FUSE, slow fsync stall); the vitest test uses bindfs instead.
"""

import argparse
import errno
import os
import threading
import time

try:
    from fusepy import FUSE, FuseOSError, Operations
except ImportError:  # pip's fusepy names the module `fuse`
    from fuse import FUSE, FuseOSError, Operations


class SlowPassthrough(Operations):
    def __init__(self, root, fsync_ms, every, create_wronly):
        self.root = os.path.realpath(root)
        self.create_flags = os.O_WRONLY if create_wronly else os.O_RDWR
        self.fsync_s = fsync_ms / 1000.0
        self.every = max(1, every)
        self.syncs = 0
        self.mutex = threading.Lock()

    def _p(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _slow(self):
        with self.mutex:
            self.syncs += 1
            n = self.syncs
        if self.fsync_s > 0 and n % self.every == 0:
            time.sleep(self.fsync_s)

    def __call__(self, op, path, *args):
        try:
            return super().__call__(op, path, *args)
        except OSError as e:
            raise FuseOSError(e.errno or errno.EIO)

    def access(self, path, mode):
        if not os.access(self._p(path), mode):
            raise FuseOSError(errno.EACCES)

    def chmod(self, path, mode):
        return os.chmod(self._p(path), mode)

    def chown(self, path, uid, gid):
        return os.chown(self._p(path), uid, gid)

    def create(self, path, mode, fi=None):
        return os.open(self._p(path), self.create_flags | os.O_CREAT, mode)

    def getattr(self, path, fh=None):
        st = os.lstat(self._p(path)) if fh is None else os.fstat(fh)
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid")
        return {k: getattr(st, k) for k in keys}

    def mkdir(self, path, mode):
        return os.mkdir(self._p(path), mode)

    def open(self, path, flags):
        return os.open(self._p(path), flags)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._p(path))

    def readlink(self, path):
        return os.readlink(self._p(path))

    def release(self, path, fh):
        return os.close(fh)

    def rename(self, old, new):
        return os.rename(self._p(old), self._p(new))

    def rmdir(self, path):
        return os.rmdir(self._p(path))

    def statfs(self, path):
        sv = os.statvfs(self._p(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
                "f_frsize", "f_namemax")
        return {k: getattr(sv, k) for k in keys}

    def symlink(self, target, source):
        return os.symlink(source, self._p(target))

    def truncate(self, path, length, fh=None):
        if fh is not None:
            return os.ftruncate(fh, length)
        with open(self._p(path), "r+b") as f:
            f.truncate(length)

    def unlink(self, path):
        return os.unlink(self._p(path))

    def utimens(self, path, times=None):
        return os.utime(self._p(path), times)

    def write(self, path, data, offset, fh):
        return os.pwrite(fh, data, offset)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        self._slow()
        return os.fdatasync(fh) if datasync else os.fsync(fh)

    def fsyncdir(self, path, datasync, fh):
        self._slow()
        fd = os.open(self._p(path), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return 0

    def opendir(self, path):
        return 0

    def releasedir(self, path, fh):
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("mountpoint")
    ap.add_argument("--fsync-ms", type=float, default=0, help="delay of a slow fsync, ms (default 0)")
    ap.add_argument("--every", type=int, default=2, help="every Nth fsync is slow (default 2: half)")
    ap.add_argument("--direct-io", action="store_true", help="bypass the page cache (like sshfs -o direct_io)")
    ap.add_argument("--create-wronly", action="store_true", help="open created files write-only (fusepy's example)")
    a = ap.parse_args()
    FUSE(SlowPassthrough(a.root, a.fsync_ms, a.every, a.create_wronly), a.mountpoint, foreground=True, nothreads=False,
         allow_other=True, direct_io=a.direct_io)


if __name__ == "__main__":
    main()
