"""Builds the Cython hot paths under engine/_fast. Everything else is in pyproject.toml.

The extensions are an optimisation: if they cannot be compiled the package still
installs and runs on the pure-Python twins (ASYNCGATE_REQUIRE_EXTENSIONS=1 turns a
failed build into an error, which `make install` uses)."""

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def extensions() -> list[Extension]:
    from Cython.Build import cythonize

    sources = sorted(Path("engine/_fast").glob("*.pyx"))
    modules = [Extension(f"engine._fast.{p.stem}", [str(p)], extra_compile_args=["-O3"]) for p in sources]
    return cythonize(modules, compiler_directives={"language_level": "3"}, quiet=True)


class OptionalBuildExt(build_ext):
    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if os.environ.get("ASYNCGATE_REQUIRE_EXTENSIONS") == "1":
            raise exc
        print(f"warning: Cython extensions not built ({exc}); the pure-Python twins will be used",
              file=sys.stderr)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
