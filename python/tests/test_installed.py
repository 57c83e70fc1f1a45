"""The suite must test the installed wheel, not the source tree."""

import os

import kiln


def test_kiln_is_the_installed_package():
    here = os.path.dirname(os.path.abspath(__file__))
    source_pkg = os.path.join(os.path.dirname(here), "kiln")
    pkg = os.path.dirname(os.path.abspath(kiln.__file__))
    assert os.path.realpath(pkg) != os.path.realpath(source_pkg), (
        f"kiln was imported from the source tree ({pkg}); install the wheel and run pytest "
        "from outside the repository")
    files = os.listdir(pkg)
    assert any(f.startswith("_kiln") and f.endswith(".so") for f in files), files
    assert "libkiln.so" in files, files


def test_versions_agree():
    assert kiln.version() == kiln.__version__
    assert kiln.device_count("cpu") == 1
