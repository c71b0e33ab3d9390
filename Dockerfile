# One image for every role of the service: the web (default command), the Celery worker and the
# one-off migration (`python -m core.migrate`). See docker-compose.yml and the README.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

# opencv-python-headless and pypdfium2 bring their own libraries in their wheels; GLib is the one
# shared library OpenCV builds commonly expect from the system (no libGL: headless needs none).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged user. Its uid matters when DATA_DIR is a shared file system (NFS, ...)
# mounted on several machines: the directory must be writable by uid 10001 everywhere.
# The home directory is writable because Keras and gunicorn keep small files there.
RUN groupadd --gid 10001 digits \
    && useradd --uid 10001 --gid digits --create-home --home-dir /home/digits \
               --shell /usr/sbin/nologin digits

WORKDIR /app

# Runtime dependencies only (no test tools); this layer is rebuilt only when requirements change.
COPY requirements.txt ./
RUN pip install --upgrade pip \
    && pip install -r requirements.txt

# The project, owned by root and read-only for the service user. It includes the shipped models
# (models/weights/: the glyph classifier, the string readers of field images and of page fields,
# the combination's calibration; PP-OCR's recogniser comes inside the rapidocr wheel installed
# above) and the form templates.
COPY . .
RUN python -m compileall -q core web worker segmentation models reading \
    && mkdir -p /data /metrics \
    && chown digits:digits /data /metrics

# DATA_DIR holds the originals (and, on the embedded default, the SQLite files); /metrics, the
# processes' Prometheus counts (METRICS_DIR in docker-compose). docker-compose mounts a volume
# on each; an empty named volume takes the ownership set above.
ENV DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8000

USER digits
EXPOSE 8000

# The web. The worker runs the same image with:
#   celery -A worker.app worker --loglevel INFO --concurrency 2 --queues documents
CMD ["gunicorn", "web.wsgi:app", "--bind", "0.0.0.0:8000", "--worker-class", "web.server.TimedThreadWorker", "--workers", "2", "--threads", "4", "--timeout", "300"]
