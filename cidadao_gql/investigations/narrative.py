"""The written report of an investigation: by an LLM when one is configured (any
OpenAI-compatible endpoint, through one pooled httpx client with keep-alive, HTTP/2 when
enabled), otherwise, or when the LLM fails, the summary written from the findings."""

from __future__ import annotations

import logging

import httpx

from cidadao_gql.agents import Finding
from cidadao_gql.investigations.runner import summarize
from cidadao_gql.settings import Settings

log = logging.getLogger("cidadao_gql.investigations")
PROMPT = (
    "You are an auditor of Brazilian public procurement. Write a short report, in Portuguese,"
    " for journalists: what the findings below suggest, how strong each is, and what to check"
    " next. Do not invent facts beyond the findings.\n\n"
)


class Narrator:
    def __init__(self, settings: Settings) -> None:
        self.url = settings.llm_api_url
        self.model = settings.llm_model
        self.client: httpx.AsyncClient | None = None
        if self.url:
            headers = (
                {"authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
            )
            self.client = httpx.AsyncClient(
                base_url=self.url,
                headers=headers,
                timeout=httpx.Timeout(30.0, connect=5.0),
                limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
                http2=settings.http2_enabled,
            )

    async def write(self, findings: list[Finding]) -> str:
        written = summarize(findings)
        if self.client is None or not findings:
            return written
        try:
            response = await self.client.post(
                "/chat/completions",
                json={
                    "model": self.model,
                    "messages": [{"role": "user", "content": PROMPT + written}],
                },
            )
            response.raise_for_status()
            text: str = response.json()["choices"][0]["message"]["content"]
            return text.strip() or written
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            log.warning("narrative: the LLM failed (%s); keeping the written summary", exc)
            return written

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
