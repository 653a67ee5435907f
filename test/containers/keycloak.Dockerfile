# syntax=docker/dockerfile:1
# Keycloak for the container tests (test/integration/containers.test.ts), not shipped. Built
# offline by `bash scripts/image.sh keycloak` from the JDK 21+ and the Keycloak dist the tests
# already use (scripts/keycloak.sh), hard-linked into .cache/image/keycloak-context.
ARG BASE=node:24-bookworm-slim
FROM ${BASE}
COPY jdk /opt/java
COPY --chown=1000:1000 keycloak /opt/keycloak
# An in-memory database (every start is a fresh, empty server), a local cache, C1 only (start-up
# is dominated by class loading and JIT). The bootstrap admin (KC_BOOTSTRAP_ADMIN_USERNAME and
# _PASSWORD) is the test's to set at run time.
ENV JAVA_HOME=/opt/java \
    PATH=/opt/java/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    KC_DB=dev-mem KC_CACHE=local KC_HTTP_PORT=8080 \
    JAVA_OPTS_KC_HEAP="-Xms128m -Xmx768m" JAVA_OPTS_APPEND="-XX:TieredStopAtLevel=1"
USER 1000:1000
WORKDIR /opt/keycloak
# Augmented once, here: `start --optimized` then skips the build step that start-dev repeats on
# every fresh container (measured: 17 s to ready instead of 45-57 s). Plain HTTP and a hostname
# taken from each request, so the issuer is the address the test maps the port to.
RUN bin/kc.sh build --db=dev-mem --cache=local
EXPOSE 8080
ENTRYPOINT ["/opt/keycloak/bin/kc.sh", "start", "--optimized", "--http-enabled=true", "--hostname-strict=false"]
