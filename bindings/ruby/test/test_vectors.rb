# frozen_string_literal: true

require "minitest/autorun"
require_relative "vectors"

# One test per case, named by file and case: a failure names both.
class TestVectors < Minitest::Test
  def test_the_vector_files_are_found
    assert_operator Vectors.files.size, :>=, 17
  end

  Vectors.cases.each_with_index do |(name, c), i|
    define_method("test_#{format('%03d', i)} #{name}") { Vectors.run_case(c) }
  end
end
