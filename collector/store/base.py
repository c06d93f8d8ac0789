"""The storage interface the routes and the admin CLI talk to.

A backend (SQLite, PostgreSQL) implements every method with the
same behaviour; nothing above this layer holds SQL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..model import InsertOutcome, Org, Project, RunPage, RunPayload, StoredRun, TokenRecord


class Store(ABC):
    #: the newest schema version this code knows
    LATEST_VERSION: int

    # --- schema -----------------------------------------------------------
    @abstractmethod
    def schema_version(self) -> int:
        """The version the database is at; 0 for an empty database."""

    @abstractmethod
    def migrate(self) -> list[int]:
        """Apply every pending numbered migration, each in its own transaction; return those applied."""

    def check_schema(self) -> None:
        """Raise SchemaMismatch unless the database is at LATEST_VERSION."""
        from ..errors import SchemaMismatch

        version = self.schema_version()
        if version != self.LATEST_VERSION:
            raise SchemaMismatch(
                f"database schema is at version {version}, this collector needs {self.LATEST_VERSION}: "
                "run 'testrun-admin migrate' with the same --db"
            )

    @abstractmethod
    def ping(self) -> None:
        """Raise Unavailable when the database cannot answer a trivial query."""

    @abstractmethod
    def close(self) -> None: ...

    # --- orgs and projects ------------------------------------------------
    @abstractmethod
    def create_org(self, name: str) -> Org:
        """Raise AlreadyExists when an org of that name exists."""

    @abstractmethod
    def list_orgs(self) -> list[Org]: ...

    @abstractmethod
    def create_project(self, org: str, name: str) -> Project:
        """Raise NotFound for an unknown org, AlreadyExists for a taken name."""

    @abstractmethod
    def get_project(self, org: str, name: str) -> Project:
        """Raise NotFound when there is no such project."""

    @abstractmethod
    def list_projects(self, org: str | None = None) -> list[Project]: ...

    # --- tokens -----------------------------------------------------------
    @abstractmethod
    def insert_token(self, token: TokenRecord) -> None: ...

    @abstractmethod
    def get_token(self, token_id: str) -> TokenRecord | None:
        """One indexed lookup by token id; None when unknown."""

    @abstractmethod
    def list_tokens(self, project: Project | None = None) -> list[TokenRecord]:
        """All tokens (admin tokens included) or those of one project, oldest first."""

    @abstractmethod
    def revoke_token(self, token_id: str, when: str) -> bool:
        """Mark revoked; False when no such token. Revoking twice keeps the first time."""

    @abstractmethod
    def touch_token(self, token_id: str, when: str) -> None:
        """Record last use."""

    # --- runs ---------------------------------------------------------------
    @abstractmethod
    def insert_run(self, project: Project, run: RunPayload, received_at: str) -> InsertOutcome:
        """Store the run and all its tests in one transaction, or find it stored.

        ``(project, run_id)`` is unique in the database: when the run exists the
        outcome is ``duplicate`` if its digest equals ``run.digest``, else
        ``conflict``; nothing already stored is changed. Raise Unavailable when
        the database stays busy past its timeout.
        """

    @abstractmethod
    def get_run(self, project: Project, run_id: str, *, with_tests: bool = True) -> StoredRun:
        """Raise NotFound when this project has no such run (another project's run included)."""

    @abstractmethod
    def list_runs(
        self,
        project: Project,
        *,
        limit: int,
        cursor: str | None = None,
        branch: str | None = None,
        status: str | None = None,
    ) -> RunPage:
        """Newest first by (started_at, insertion order); ``next_cursor`` is opaque.

        Raise BadRequest for a cursor this store did not make.
        """
