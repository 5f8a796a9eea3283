#!/usr/bin/python3
"""Check every member of a --store tar job with reference software (issue 12).

Usage: /usr/bin/python3 scripts/check-tar-members.py OUT [WDS_DIR]

For every OUT/tar/*.tar: Python's tarfile lists and reads each member (no extraction), astropy opens it
and reads its image and WCS, and fitsverify (Debian package fitsverify) checks the same bytes written to
a temp file. With WDS_DIR (a `vocut export --format webdataset --out WDS_DIR` folder) the WebDataset
shards are read the same way, grouped into samples as the WebDataset loaders group them. Prints a count
per check and exits 1 on the first failure.
"""
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

from astropy.io import fits
from astropy.wcs import WCS


def check_fits(name, data, tmpdir):
    with fits.open(io.BytesIO(data)) as hdul:
        img = hdul[0].data
        if img is None or img.ndim != 2:
            sys.exit(f"{name}: no 2-D image (astropy)")
        if not WCS(hdul[0].header).has_celestial:
            sys.exit(f"{name}: no celestial WCS (astropy)")
    path = os.path.join(tmpdir, "member.fits")
    with open(path, "wb") as f:
        f.write(data)
    r = subprocess.run(["fitsverify", "-q", "-e", path], capture_output=True, text=True)
    if r.returncode != 0 or "OK:" not in r.stdout:
        sys.exit(f"{name}: fitsverify: {r.stdout.strip()} {r.stderr.strip()}")
    return img.shape


def main():
    out = sys.argv[1]
    tar_dir = os.path.join(out, "tar")
    members = 0
    shapes = set()
    with tempfile.TemporaryDirectory() as tmp:
        for shard in sorted(os.listdir(tar_dir)):
            with tarfile.open(os.path.join(tar_dir, shard)) as tf:
                for m in tf:
                    data = tf.extractfile(m).read()
                    shapes.add(check_fits(f"{shard}:{m.name}", data, tmp))
                    members += 1
        print(f"{members} member(s) in {len(os.listdir(tar_dir))} tar file(s): astropy opens each (image + WCS), fitsverify -q -e: OK; shapes {sorted(shapes)}")
        if len(sys.argv) > 2:
            wds = sys.argv[2]
            samples = {}
            for shard in sorted(os.listdir(wds)):
                with tarfile.open(os.path.join(wds, shard)) as tf:
                    for m in tf:
                        # The WebDataset grouping: key = the name up to the first dot of its base name.
                        base = os.path.basename(m.name)
                        key, ext = base.split(".", 1)
                        data = tf.extractfile(m).read()
                        if ext == "json":
                            json.loads(data)
                        else:
                            check_fits(f"{shard}:{m.name}", data, tmp)
                        samples.setdefault(key, []).append(ext)
            exts = {tuple(v) for v in samples.values()}
            print(f"WebDataset: {len(samples)} sample(s), member extensions per sample {sorted(exts)}; every FITS passes astropy and fitsverify")


main()
