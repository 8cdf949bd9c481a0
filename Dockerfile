# fcemu in a container: docs/docker.md explains every line and how to run it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user runs the server and, through it, every handler.
RUN groupadd --gid 10001 fcemu \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin fcemu

WORKDIR /src
COPY pyproject.toml README.md ./
COPY fcemu ./fcemu
COPY pytest_fcemu ./pytest_fcemu
RUN pip install --no-compile . && rm -rf /src

USER 10001:10001
WORKDIR /home/fcemu
EXPOSE 9000

# Inside the container the health check reaches the server over loopback, so the Host check
# (docs/security.md) lets it through.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/_fcemu/health', timeout=4).close()"]

# --host 0.0.0.0 is deliberate: a published port reaches the container's network interface,
# not its loopback. Publish it on the host's loopback only (docker run -p 127.0.0.1:9000:9000)
# and add --allow-host NAME for any name other than a loopback one that clients use.
ENTRYPOINT ["fcemu", "serve", "--host", "0.0.0.0", "--port", "9000"]
CMD []
