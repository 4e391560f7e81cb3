# Multi-stage: build a wheel (with the Cython extensions) the way `make install` builds
# the package, then install only that wheel into a slim runtime image.

FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY engine ./engine
# Same steps as `make install`: current build tools, then a build that must compile the extensions.
RUN python -m pip install --no-cache-dir --upgrade pip "setuptools>=77" wheel "Cython>=3.0,<4" \
    && ASYNCGATE_REQUIRE_EXTENSIONS=1 python -m pip wheel --no-cache-dir --no-build-isolation --no-deps -w /dist . \
    && python -m pip wheel --no-cache-dir -w /dist uvloop msgspec orjson PyYAML

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
# The gateway (`asyncgate serve`) arrives with issue 4; until then the image runs the demo stream.
CMD ["run", "/etc/asyncgate/demo.yaml"]
