# Multi-stage: build a wheel (with the Cython extensions) the way `make install` builds
# the package, then install only that wheel into a slim runtime image.

FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY engine ./engine
COPY gateway_adapter ./gateway_adapter
# Same steps as `make install`: current build tools, then a build that must compile the extensions.
RUN python -m pip install --no-cache-dir --upgrade pip "setuptools>=77" wheel "Cython>=3.0,<4" \
    && ASYNCGATE_REQUIRE_EXTENSIONS=1 python -m pip wheel --no-cache-dir --no-build-isolation --no-deps -w /dist . \
    && python -m pip wheel --no-cache-dir -w /dist uvloop msgspec orjson PyYAML starlette hypercorn python-multipart

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 asyncgate
COPY --from=build /dist /tmp/dist
RUN python -m pip install --no-cache-dir --no-index --find-links /tmp/dist asyncgate \
    && rm -rf /tmp/dist \
    && python -c "import engine._fast as f; assert f.COMPILED"
COPY engine/demo/demo.yaml /etc/asyncgate/demo.yaml
USER asyncgate
WORKDIR /home/asyncgate
EXPOSE 8080 4195
ENTRYPOINT ["asyncgate"]
# The gateway with its built-in demo API; mount API definitions and pass `--apis DIR` to serve yours.
CMD ["serve", "--host", "0.0.0.0"]
