# The tunewatch proxy: slim, non-root, health-checked. vLLM runs in its own image beside it.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE constraints.txt ./
COPY tunewatch ./tunewatch
COPY proxy ./proxy
COPY probes ./probes
COPY monitoring ./monitoring
# tunewatch/ links to the three folders; the wheel holds them as tunewatch.proxy and so on.
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11-slim
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin tunewatch
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && mkdir -p /var/lib/tunewatch && chown 10001:10001 /var/lib/tunewatch
USER 10001:10001
WORKDIR /home/tunewatch
ENV PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["tunewatch"]
CMD ["serve", "--config", "/etc/tunewatch/config.yaml", "--host", "0.0.0.0", "--port", "8080"]
