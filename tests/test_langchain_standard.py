"""LangChain's standard retriever tests (langchain-tests) on `EncryptedStoreRetriever` over the demo store.

The store is conftest's session `assistant`: the demo documents ingested once, opened with the real key
and the packaged embedder. The suite's settings are properties, which cannot ask for fixtures: an autouse
fixture hands the assistant's `Retriever` to the test instance before each test.
"""
from __future__ import annotations

import asyncio

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rag.retrieve import EncryptedStoreRetriever

QUESTION = "How many days of paid annual leave do employees get?"  # hr-policy.pdf, page 2: 27 days


class TestEncryptedStoreRetrieverStandard(RetrieversIntegrationTests):
    # The suite's `test_ainvoke_returns_documents` is a bare `async def` (LangChain's own packages run in
    # pytest-asyncio's auto mode); here strict mode is left as it is, so the class marks its tests instead.
    # The mark on its sync tests only draws pytest-asyncio's "not an async function" notice, ignored here.
    pytestmark = [pytest.mark.asyncio,
                  pytest.mark.filterwarnings("ignore:The test <Function .*> is marked with '@pytest.mark.asyncio'")]

    @pytest.fixture(autouse=True)
    def _demo_store(self, assistant):
        self.store_retriever = assistant.retriever

    @property
    def retriever_constructor(self) -> type[EncryptedStoreRetriever]:
        return EncryptedStoreRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"retriever": self.store_retriever, "k": 4}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


def test_invoke_k_sets_this_calls_number_of_documents_and_each_carries_source_and_page(assistant):
    retriever = EncryptedStoreRetriever(retriever=assistant.retriever, k=2)
    assert len(retriever.invoke(QUESTION)) == 2  # the constructor's k when invoke has none

    one, three = retriever.invoke(QUESTION, k=1), retriever.invoke(QUESTION, k=3)
    assert len(one) == 1 and len(three) == 3
    for doc in one + three:
        assert isinstance(doc, Document) and doc.page_content
        assert doc.metadata["source"] and "page" in doc.metadata
    assert one[0].metadata["source"] == "hr-policy.pdf" and one[0].metadata["page"] == 2
    assert "27 days of paid annual leave" in one[0].page_content
    assert three[0].page_content == one[0].page_content  # k cuts the ranking; it does not change its head

    assert len(asyncio.run(retriever.ainvoke(QUESTION, k=1))) == 1
    assert [len(docs) for docs in retriever.batch([QUESTION, QUESTION], k=3)] == [3, 3]


def test_an_unknown_or_invalid_number_of_results_is_refused_not_read_as_the_default(assistant):
    retriever = EncryptedStoreRetriever(retriever=assistant.retriever)
    with pytest.raises(TypeError, match="top_k"):
        retriever.invoke(QUESTION, top_k=1)
    with pytest.raises(ValueError, match="positive"):
        retriever.invoke(QUESTION, k=0)
