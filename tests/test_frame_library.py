"""FrameLibrary: members read one at a time, metadata updates applied on each borrowing, arrays replaced
through the work directory, the caller's files and models untouched."""

import numpy as np
import pytest

from frames import file_digest, make_frame
from liger_iris_pipeline.datamodels.library import FrameLibrary


@pytest.fixture
def member_paths(tmp_path):
    paths = []
    for index in range(3):
        path = tmp_path / f"frame{index}_cal.fits"
        make_frame(np.full((4, 5), float(index))).save(path)
        paths.append(path)
    return paths


def test_members_are_read_in_order_under_their_own_names(member_paths):
    with FrameLibrary(member_paths) as library:
        assert len(library) == 3
        assert library.names == tuple(path.name for path in member_paths)
        for index in range(3):
            with library.frame(index) as model:
                assert model.meta.filename == member_paths[index].name
                np.testing.assert_array_equal(model.data, index)


def test_meta_updates_apply_at_every_borrowing_without_touching_the_file(member_paths):
    before = file_digest(member_paths[1])
    with FrameLibrary(member_paths) as library:
        library.update_meta(1, {"meta.pointing.ra": 151.5})
        for _ in range(2):
            with library.frame(1) as model:
                assert model.meta.pointing.ra == 151.5
        with library.frame(0) as model:
            assert model.meta.pointing.ra == 150.0
    assert file_digest(member_paths[1]) == before


def test_replaced_arrays_come_from_the_work_directory_and_it_is_removed(member_paths):
    before = file_digest(member_paths[2])
    library = FrameLibrary(member_paths)
    library.update_meta(2, {"meta.pointing.dec": 3.0})
    with library.frame(2) as model:
        model.dq[0, 0] = 16
        library.replace(2, model)
    assert library.paths[2].parent == library.work_dir
    with library.frame(2) as model:
        assert model.dq[0, 0] == 16 and model.meta.pointing.dec == 3.0
        assert model.meta.filename == member_paths[2].name
    assert library.meta_updates(2) == {}
    library.close()
    assert not library.work_dir.exists()
    assert file_digest(member_paths[2]) == before


def test_models_from_python_are_copied_to_files_and_left_as_they_were(tmp_path):
    model = make_frame(np.ones((4, 5)))
    model.meta.filename = "given_cal.fits"
    with FrameLibrary([model], work_dir=tmp_path / "work") as library:
        with library.frame(0) as borrowed:
            borrowed.data[:] = 7.0
        assert library.names == ("given_cal.fits",)
    np.testing.assert_array_equal(model.data, 1.0)
    assert (tmp_path / "work").is_dir()  # a caller's work directory is the caller's


def test_an_empty_library_is_refused():
    with pytest.raises(ValueError, match="at least one frame"):
        FrameLibrary([])


def test_history_entries_apply_at_every_borrowing_and_go_into_a_replaced_file(member_paths):
    with FrameLibrary(member_paths) as library:
        library.add_history_entry(0, "aligned", software={"name": "test", "version": "1"})
        for _ in range(2):
            with library.frame(0) as model:
                assert [entry["description"] for entry in model.history] == ["aligned"]
        with library.frame(0) as model:
            library.replace(0, model)
        with library.frame(0) as model:
            assert [entry["description"] for entry in model.history] == ["aligned"]
        with library.frame(1) as model:
            assert len(model.history) == 0
