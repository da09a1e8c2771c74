// hog.cc: see hog.h.
#include <dlfcn.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include "hog.h"

struct hog_detector {
	dlib::frontal_face_detector det;
};

extern "C" {

hog_detector* hog_new(void) {
	try {
		hog_detector* d = new hog_detector;
		d->det = dlib::get_frontal_face_detector();
		return d;
	} catch (...) {
		return nullptr;
	}
}

void hog_free(hog_detector* d) { delete d; }

int hog_detect(hog_detector* d, const unsigned char* gray, int rows, int cols, int step,
               long* rects, double* scores, int max) {
	try {
		dlib::array2d<unsigned char> img(rows, cols);
		for (int r = 0; r < rows; r++) {
			memcpy(&img[r][0], gray + (size_t)r * step, cols);
		}
		std::vector<dlib::rect_detection> dets;
		d->det(img, dets, 0.0);
		for (size_t i = 0; i < dets.size() && (int)i < max; i++) {
			rects[4 * i + 0] = dets[i].rect.left();
			rects[4 * i + 1] = dets[i].rect.top();
			rects[4 * i + 2] = dets[i].rect.right();
			rects[4 * i + 3] = dets[i].rect.bottom();
			scores[i] = dets[i].detection_confidence;
		}
		return (int)dets.size();
	} catch (...) {
		return -1;
	}
}

int blas_set_threads(int n) {
	typedef void (*setter)(int);
	setter f = (setter)dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
	if (f == nullptr) {
		return 0;
	}
	f(n);
	return 1;
}

}
