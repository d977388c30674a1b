// iostreams: formatting, string streams, a file round trip in the scratch directory.
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char **argv) {
    std::string dir = argc > 1 ? argv[1] : ".";
    std::cout << "hex " << std::hex << 255 << std::dec << " fixed " << std::fixed << std::setprecision(3)
              << 2.0 / 3.0 << " width [" << std::setw(6) << 42 << "]" << std::endl;
    std::ostringstream os;
    for (int i = 0; i < 5; i++)
        os << i * i << (i < 4 ? "," : "");
    std::cout << "joined " << os.str() << '\n';
    std::istringstream is("10 20 30 forty");
    int a, sum = 0;
    while (is >> a)
        sum += a;
    std::cout << "sum " << sum << '\n';
    {
        std::ofstream out(dir + "/words.txt");
        for (auto w : {"delta", "alpha", "charlie", "bravo"})
            out << w << '\n';
    }
    std::ifstream in(dir + "/words.txt");
    std::vector<std::string> words;
    std::string w;
    while (std::getline(in, w))
        words.push_back(w);
    std::sort(words.begin(), words.end());
    for (const auto &x : words)
        std::cout << x << ' ';
    std::cout << '\n';
    std::cerr << "to cerr" << std::endl;
    return 0;
}
